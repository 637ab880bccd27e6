import Foundation

/// Axis ticks at round values for the PNG plots: steps of 1, 2 or 5 times a power of ten.
public enum PlotTicks {
    /// The round step giving about `target` intervals over [lo, hi], the axis widened to whole
    /// steps, and the ticks on it; `decimals` is enough digits to print every tick exactly.
    public static func nice(_ lo: Double, _ hi: Double, target: Int = 5) -> (
        lo: Double, hi: Double, step: Double, ticks: [Double], decimals: Int
    ) {
        var a = lo.isFinite ? lo : 0
        var b = hi.isFinite ? hi : 1
        if a > b { swap(&a, &b) }
        if b - a < 1e-12 * Swift.max(1, Swift.abs(a)) {
            a -= 0.5
            b += 0.5
        }
        let raw = (b - a) / Double(Swift.max(target, 1))
        let p = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * p }.first { $0 >= raw * (1 - 1e-9) } ?? 10 * p
        let k0 = Foundation.floor(a / step + 1e-9)
        let k1 = Foundation.ceil(b / step - 1e-9)
        let ticks = stride(from: k0, through: k1, by: 1).map { $0 * step }
        let decimals = Swift.max(0, -Int(Foundation.floor(Foundation.log10(step) + 1e-9)))
        return (k0 * step, k1 * step, step, ticks, decimals)
    }

    /// Ticks for a log axis over [lo, hi] (lo > 0): 1, 2, 5 times each power of ten inside.
    public static func log(_ lo: Double, _ hi: Double) -> [Double] {
        guard lo > 0, hi >= lo else { return [] }
        var out: [Double] = []
        var p = Foundation.pow(10, Foundation.floor(Foundation.log10(lo)))
        while p <= hi * (1 + 1e-9) {
            for m in [1.0, 2, 5] where m * p >= lo * (1 - 1e-9) && m * p <= hi * (1 + 1e-9) { out.append(m * p) }
            p *= 10
        }
        return out
    }
}
