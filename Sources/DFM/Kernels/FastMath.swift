// Float32 exp and normal CDF as straight-line code: no libm call and no branch, so the
// elementwise loops that use them vectorise (GELU was a third of the DFM-ViT's non-GEMM time
// as scalar double-precision erf calls). Float64 keeps libm: the float64 parity proofs use it.

enum FastMath {
    /// e^x for float32, within 2 ulp where the result is a normal float; 0 below (no
    /// subnormals), +inf above, NaN stays NaN. Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2, a
    /// degree-7 polynomial in r, and 2^n as two factors built in the exponent bits (n reaches 128).
    @inline(__always) static func exp(_ x: Float) -> Float {
        let c = Swift.min(Swift.max(x, -87.336_54), 88.722_83)
        // Adding 1.5·2^23 rounds c·log2(e) to the nearest integer n and leaves n in the low mantissa bits.
        let t = c * 1.442_695_04 + 12_582_912
        let n = t - 12_582_912
        let r = c - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let y = p * r * r + r + 1
        let ni = Int32(bitPattern: t.bitPattern) &- 0x4B40_0000
        let half = ni >> 1
        let s1 = Float(bitPattern: UInt32(bitPattern: (half &+ 127) &<< 23))
        let s2 = Float(bitPattern: UInt32(bitPattern: (ni &- half &+ 127) &<< 23))
        let v = y * s1 * s2
        return x > 88.722_83 ? .infinity : (x < -87.336_54 ? 0 : (x.isNaN ? x : v))
    }

    /// Φ(x) = P(Z ≤ x) for a standard normal Z, float32, relative error < 2e-5 (8e-6 measured)
    /// down to Φ(-12.5) (PyTorch's own float32 erf is off by up to 5e-7 absolute). Through erfc, not
    /// 1 + erf, so the left tail keeps its relative precision: erfc(z) = t·exp(-z² + P(t)),
    /// t = 1/(1 + z/2) (Numerical Recipes' erfcc, fractional error < 1.2e-7 in exact arithmetic).
    @inline(__always) static func normalCDF(_ x: Float) -> Float {
        let z = Swift.abs(x) * 0.707_106_78
        let t = 1 / (1 + 0.5 * z)
        var p: Float = 0.170_872_77
        p = p * t - 0.822_152_23
        p = p * t + 1.488_515_87
        p = p * t - 1.135_203_98
        p = p * t + 0.278_868_07
        p = p * t - 0.186_288_06
        p = p * t + 0.096_784_18
        p = p * t + 0.374_091_96
        p = p * t + 1.000_023_68
        p = p * t - 1.265_512_23
        let half = 0.5 * t * exp(-z * z + p)  // Φ(-|x|)
        return x < 0 ? half : (x.isNaN ? x : 1 - half)
    }
}
