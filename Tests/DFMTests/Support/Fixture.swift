import Foundation
import XCTest

@testable import DFM

/// A PyTorch fixture file written by tools/fixtures (see common.py for the layout).
struct Fixture {
    let tensors: [String: Tensor]
    let meta: [String: String]

    /// Fixtures/<folder>/<name>.safetensors: op fixtures in ops/, model fixtures in models/.
    init(_ name: String, folder: String = "ops") throws {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(folder)/\(name)", withExtension: "safetensors")
        else {
            throw DFMError(.notFound, "fixture \(folder)/\(name) missing: run tools/fixtures/*.py")
        }
        (tensors, meta) = try SafeTensors.read(url.path)
    }

    /// A model case's JSON metadata; unlike params(_:), a missing case is an error.
    func config(_ c: String) throws -> [String: Any] {
        guard let s = meta[c], let o = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else {
            throw DFMError(.notFound, "fixture case \(c) has no metadata")
        }
        return o
    }

    /// A stored tensor's values; `dtype`, when given, is the storage type the fixture promises.
    func values(_ key: String, dtype: DType? = nil) throws -> [Double] {
        guard let t = tensors[key] else { throw DFMError(.notFound, "fixture tensor \(key) missing") }
        if let dtype { XCTAssertEqual(t.dtype, dtype, "\(key) should be stored as \(dtype)") }
        return t.toDoubleArray()
    }

    var cases: [String] { meta.keys.sorted() }

    func input(_ c: String, _ name: String) -> Tensor { tensors["\(c)/in/\(name)"]! }
    func output(_ c: String, _ idx: Int = 0) -> Tensor { tensors["\(c)/out/\(idx)"]! }
    func gout(_ c: String, _ idx: Int = 0) -> Tensor? { tensors["\(c)/gout/\(idx)"] }
    func grad(_ c: String, _ name: String) -> Tensor? { tensors["\(c)/grad/\(name)"] }

    func params(_ c: String) -> [String: Any] {
        guard let s = meta[c], let d = s.data(using: .utf8),
            let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any]
        else { return [:] }
        return o
    }
    func float(_ c: String, _ k: String) -> Double? { (params(c)[k] as? NSNumber)?.doubleValue }
    func int(_ c: String, _ k: String) -> Int? { (params(c)[k] as? NSNumber)?.intValue }
    func bool(_ c: String, _ k: String) -> Bool? { (params(c)[k] as? NSNumber)?.boolValue }
    func ints(_ c: String, _ k: String) -> [Int]? { (params(c)[k] as? [NSNumber])?.map { $0.intValue } }
    func string(_ c: String, _ k: String) -> String? { params(c)[k] as? String }

    /// Leaf copies of a case's float inputs with requires_grad set, keyed by name.
    func leaves(_ c: String, _ names: [String]) throws -> [Tensor] {
        try names.map { n in
            let t = try input(c, n).clone()
            if t.dtype.isFloat { try t.requiresGrad() }
            return t
        }
    }

    /// Runs backward of sum(out * gout) and compares outputs and input gradients with PyTorch.
    func check(
        _ c: String, outputs: [Tensor], inputs: [String: Tensor], rtol: Float = 1e-5, atol: Float = 1e-5,
        gradRtol: Float? = nil, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var total: Tensor? = nil
        for (k, o) in outputs.enumerated() {
            assertClose(o, output(c, k), rtol: rtol, atol: atol, "\(c) out \(k)", file: file, line: line)
            if let g = gout(c, k), o.requiresGrad {
                let term = try sum(try mul(o, g))
                total = try total.map { try add($0, term) } ?? term
            }
        }
        guard let total else { return }
        try total.backward()
        for (name, t) in inputs {
            guard let expected = grad(c, name) else { continue }
            guard let got = t.grad else {
                XCTFail("\(c): no gradient for \(name)", file: file, line: line)
                continue
            }
            assertClose(
                got, expected, rtol: gradRtol ?? rtol, atol: gradRtol ?? atol, "\(c) grad \(name)", file: file,
                line: line)
        }
    }
}

extension Fixture {
    /// Outputs of any dtype: the dtype and shape must match; int64 and bool values exactly (and
    /// such results must not require grad); float32 ones, with the inputs' gradients, to the
    /// tolerances through `check`.
    func checkTyped(
        _ c: String, _ outs: [Tensor], inputs: [String: Tensor] = [:], rtol: Float = 1e-6, atol: Float = 1e-6,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        for (k, y) in outs.enumerated() {
            let want = output(c, k)
            XCTAssertEqual(y.dtype, want.dtype, "\(c) out \(k): dtype", file: file, line: line)
            XCTAssertEqual(y.shape, want.shape, "\(c) out \(k): shape", file: file, line: line)
            if !want.dtype.isFloat {
                XCTAssertEqual(y.toInt64Array(), want.toInt64Array(), "\(c) out \(k): values", file: file, line: line)
                XCTAssertFalse(y.requiresGrad, "\(c): a \(y.dtype) result cannot require grad", file: file, line: line)
            }
        }
        if outs.contains(where: { $0.dtype.isFloat }) {
            try check(c, outputs: outs, inputs: inputs, rtol: rtol, atol: atol, file: file, line: line)
        }
    }
}

/// |a - e| <= atol + rtol·|e| elementwise (in double), identical shapes, and a float64
/// expectation needs a float64 result.
func assertClose(
    _ a: Tensor, _ e: Tensor, rtol: Double = 1e-5, atol: Double = 1e-5, _ what: String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    guard a.shape == e.shape else {
        XCTFail("\(what): shape \(a.shape) vs expected \(e.shape)", file: file, line: line)
        return
    }
    if e.dtype == .float64 && a.dtype != .float64 {
        XCTFail("\(what): dtype \(a.dtype), expected float64", file: file, line: line)
        return
    }
    let av = a.toDoubleArray()
    let ev = e.toDoubleArray()
    var worst = 0
    var worstErr: Double = 0
    for k in 0..<av.count {
        if av[k].isNaN && ev[k].isNaN { continue }
        if av[k] == ev[k] { continue }
        let err = Swift.abs(av[k] - ev[k]) - (atol + rtol * Swift.abs(ev[k]))
        if !(err <= 0) && (err > worstErr || worstErr == 0) {
            worst = k
            worstErr = err.isNaN ? .infinity : err
        }
    }
    if worstErr > 0 {
        XCTFail(
            "\(what): element \(worst) is \(av[worst]), expected \(ev[worst]) (rtol \(rtol), atol \(atol))", file: file,
            line: line)
    }
}

/// assertClose with float32 tolerances (most float32 op tests pass them as Float).
func assertClose(
    _ a: Tensor, _ e: Tensor, rtol: Float, atol: Float, _ what: String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    assertClose(a, e, rtol: Double(rtol), atol: Double(atol), what, file: file, line: line)
}

/// Relative difference of two tensors by norm: |a - e| / max(|e|, tiny).
func relNormDiff(_ a: Tensor, _ e: Tensor) -> Float {
    let av = a.toArray()
    let ev = e.toArray()
    var d: Double = 0
    var n: Double = 0
    for k in 0..<min(av.count, ev.count) {
        d += Double(av[k] - ev[k]) * Double(av[k] - ev[k])
        n += Double(ev[k]) * Double(ev[k])
    }
    return Float((d / max(n, 1e-30)).squareRoot())
}

/// Asserts that `body` throws a DFMError whose message contains `contains`.
func assertThrowsDFM<T>(
    _ body: @autoclosure () throws -> T, _ contains: String = "", kind: DFMError.Kind? = nil,
    file: StaticString = #filePath, line: UInt = #line
) {
    do {
        _ = try body()
        XCTFail("expected a DFMError containing '\(contains)'", file: file, line: line)
    } catch let e as DFMError {
        if !contains.isEmpty {
            XCTAssertTrue(
                e.message.contains(contains), "message '\(e.message)' lacks '\(contains)'", file: file, line: line)
        }
        if let kind { XCTAssertEqual(e.kind, kind, e.message, file: file, line: line) }
    } catch {
        XCTFail("expected DFMError, got \(error)", file: file, line: line)
    }
}
