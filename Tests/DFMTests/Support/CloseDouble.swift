import XCTest

@testable import DFM

/// |a - e| <= atol + rtol·|e| elementwise, compared in double (for float64 results), with
/// identical shapes and dtypes. NaN matches NaN.
func assertCloseD(
    _ a: Tensor, _ e: Tensor, rtol: Double, atol: Double, _ what: String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    guard a.shape == e.shape, a.dtype == e.dtype else {
        XCTFail("\(what): \(a.shape) \(a.dtype) vs expected \(e.shape) \(e.dtype)", file: file, line: line)
        return
    }
    let av = a.toDoubleArray()
    let ev = e.toDoubleArray()
    for k in 0..<av.count {
        if av[k].isNaN && ev[k].isNaN { continue }
        if av[k] == ev[k] { continue }
        if !(Swift.abs(av[k] - ev[k]) <= atol + rtol * Swift.abs(ev[k])) {
            XCTFail(
                "\(what): element \(k) is \(av[k]), expected \(ev[k]) (rtol \(rtol), atol \(atol))", file: file,
                line: line)
            return
        }
    }
}
