import CZlib
import DFM
import Foundation

/// A small line-chart renderer that writes PNG files (RGB, zlib via CZlib), so
/// training curves and experiment plots need no Python or plotting library. Axes tick at
/// round values (1-2-5 steps, PlotTicks), error bars are drawn where given, and the plotted
/// numbers are written beside the PNG as CSV (same name, .csv).
struct LinePlot {
    struct Series {
        var name: String
        var xs: [Double]
        var ys: [Double]
        var errs: [Double]?
        var color: (UInt8, UInt8, UInt8)
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series] = []
    /// Logarithmic x axis (for sizes such as images per class); needs x > 0.
    var logX = false
    let width = 720, height = 440
    let left = 70, right = 20, top = 40, bottom = 60

    static let palette: [(UInt8, UInt8, UInt8)] = [
        (31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
    ]

    mutating func add(_ name: String, xs: [Double], ys: [Double], errs: [Double]? = nil) {
        series.append(
            Series(
                name: name, xs: xs, ys: ys, errs: errs, color: LinePlot.palette[series.count % LinePlot.palette.count]))
    }

    func render() -> [UInt8] {
        var img = [UInt8](repeating: 255, count: width * height * 3)
        func px(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            let o = (y * width + x) * 3
            img[o] = c.0
            img[o + 1] = c.1
            img[o + 2] = c.2
        }
        func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (UInt8, UInt8, UInt8), thick: Bool = false) {
            var x = x0
            var y = y0
            let dx = Swift.abs(x1 - x0)
            let dy = -Swift.abs(y1 - y0)
            let sx = x0 < x1 ? 1 : -1
            let sy = y0 < y1 ? 1 : -1
            var err = dx + dy
            while true {
                px(x, y, c)
                if thick {
                    px(x + 1, y, c)
                    px(x, y + 1, c)
                }
                if x == x1 && y == y1 { break }
                let e2 = 2 * err
                if e2 >= dy {
                    err += dy
                    x += sx
                }
                if e2 <= dx {
                    err += dx
                    y += sy
                }
            }
        }
        func text(_ s: String, _ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
            var cx = x
            for ch in s {
                if let rows = Font5x7.glyphs[ch] ?? Font5x7.glyphs[Character(ch.uppercased())] {
                    for (r, bits) in rows.enumerated() {
                        for b in 0..<5 where bits & (1 << (4 - b)) != 0 { px(cx + b, y + r, c) }
                    }
                }
                cx += 6
            }
        }
        let useLog = logX && series.flatMap(\.xs).allSatisfy { $0 > 0 }
        let fx: (Double) -> Double = useLog ? { Foundation.log10($0) } : { $0 }
        let allX = series.flatMap(\.xs).filter(\.isFinite)
        var allY: [Double] = []
        for s in series {
            for (i, y) in s.ys.enumerated() where y.isFinite {
                let e = s.errs.flatMap { i < $0.count && $0[i].isFinite ? $0[i] : nil } ?? 0
                allY += [y - e, y + e]
            }
        }
        let yt = PlotTicks.nice(allY.min() ?? 0, allY.max() ?? 1)
        let xt = useLog ? nil : PlotTicks.nice(allX.min() ?? 0, allX.max() ?? 1)
        let xTicks = useLog ? PlotTicks.log(allX.min() ?? 1, allX.max() ?? 10) : xt!.ticks
        var x0 = useLog ? fx(allX.min() ?? 1) : xt!.lo
        var x1 = useLog ? fx(allX.max() ?? 10) : xt!.hi
        if x1 - x0 < 1e-12 {
            x0 -= 0.5
            x1 += 0.5
        }
        let y0 = yt.lo
        let y1 = yt.hi
        let pw = width - left - right
        let ph = height - top - bottom
        func sx(_ v: Double) -> Int { left + Int(((fx(v) - x0) / (x1 - x0) * Double(pw)).rounded()) }
        func sy(_ v: Double) -> Int { top + ph - Int(((v - y0) / (y1 - y0) * Double(ph)).rounded()) }
        // Grid and tick labels at round values.
        for v in yt.ticks {
            let gy = sy(v)
            line(left, gy, left + pw, gy, (225, 225, 225))
            line(left - 4, gy, left, gy, (0, 0, 0))
            let label = String(format: "%.\(yt.decimals)f", v)
            text(label, left - 8 - 6 * label.count, gy - 3)
        }
        for v in xTicks {
            let gx = sx(v)
            line(gx, top, gx, top + ph, (225, 225, 225))
            line(gx, top + ph, gx, top + ph + 4, (0, 0, 0))
            let label = useLog ? String(format: "%g", v) : String(format: "%.\(xt!.decimals)f", v)
            text(label, gx - 3 * label.count, top + ph + 8)
        }
        line(left, top, left, top + ph, (0, 0, 0))
        line(left, top + ph, left + pw, top + ph, (0, 0, 0))
        text(title, left, 14)
        text(xLabel, left + pw / 2 - 3 * xLabel.count, height - 22)
        text(yLabel, 4, top - 14)
        for (k, s) in series.enumerated() {
            let pts = zip(s.xs, s.ys).enumerated().filter { $0.1.1.isFinite && $0.1.0.isFinite }
            for i in 1..<max(pts.count, 1) {
                line(sx(pts[i - 1].1.0), sy(pts[i - 1].1.1), sx(pts[i].1.0), sy(pts[i].1.1), s.color, thick: true)
            }
            for (i, p) in pts {
                for d in -2...2 {
                    px(sx(p.0) + d, sy(p.1), s.color)
                    px(sx(p.0), sy(p.1) + d, s.color)
                }
                // Error bar: ± the spread, with caps; offset by series so overlapping bars stay visible.
                if let errs = s.errs, i < errs.count, errs[i].isFinite, errs[i] > 0 {
                    let x = sx(p.0) + 2 * k - series.count + 1
                    let lo = sy(p.1 - errs[i])
                    let hi = sy(p.1 + errs[i])
                    line(x, lo, x, hi, s.color)
                    line(x - 3, lo, x + 3, lo, s.color)
                    line(x - 3, hi, x + 3, hi, s.color)
                }
            }
            let ly = top + 8 + 12 * k
            let lx = left + pw - 6 * (series.map(\.name.count).max() ?? 0) - 30
            line(lx, ly + 3, lx + 15, ly + 3, s.color, thick: true)
            text(s.name, lx + 20, ly)
        }
        return img
    }

    /// The plotted numbers, one row per point: series, x, y and (if any) the error bar's half-height.
    func csv() -> String {
        func q(_ s: String) -> String {
            s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        let hasErr = series.contains { $0.errs != nil }
        var out = "series,\(q(xLabel)),\(q(yLabel))" + (hasErr ? ",error (± standard deviation)" : "") + "\n"
        for s in series {
            for (i, (x, y)) in zip(s.xs, s.ys).enumerated() {
                out += "\(q(s.name)),\(x),\(y)"
                if hasErr { out += "," + (s.errs.map { i < $0.count ? "\($0[i])" : "" } ?? "") }
                out += "\n"
            }
        }
        return out
    }

    /// PATH (the PNG) and the CSV beside it (PATH with .csv for .png).
    func write(_ path: String) throws {
        try PNG.write(render(), width: width, height: height, channels: 3, to: path)
        let csvPath = (path.hasSuffix(".png") ? String(path.dropLast(4)) : path) + ".csv"
        try AtomicFile.write(Data(csv().utf8), to: csvPath, op: "plot")
    }
}

/// 5×7 bitmap glyphs for labels (uppercase letters, digits, a few symbols).
enum Font5x7 {
    static let glyphs: [Character: [UInt8]] = [
        "0": [14, 17, 19, 21, 25, 17, 14], "1": [4, 12, 4, 4, 4, 4, 14], "2": [14, 17, 1, 2, 4, 8, 31],
        "3": [31, 2, 4, 2, 1, 17, 14], "4": [2, 6, 10, 18, 31, 2, 2], "5": [31, 16, 30, 1, 1, 17, 14],
        "6": [6, 8, 16, 30, 17, 17, 14], "7": [31, 1, 2, 4, 8, 8, 8], "8": [14, 17, 17, 14, 17, 17, 14],
        "9": [14, 17, 17, 15, 1, 2, 12], ".": [0, 0, 0, 0, 0, 12, 12], "-": [0, 0, 0, 31, 0, 0, 0],
        "%": [24, 25, 2, 4, 8, 19, 3], "(": [2, 4, 8, 8, 8, 4, 2], ")": [8, 4, 2, 2, 2, 4, 8],
        ":": [0, 12, 12, 0, 12, 12, 0], "=": [0, 0, 31, 0, 31, 0, 0], "/": [0, 1, 2, 4, 8, 16, 0],
        "_": [0, 0, 0, 0, 0, 0, 31], ",": [0, 0, 0, 0, 12, 4, 8], "+": [0, 4, 4, 31, 4, 4, 0],
        "A": [14, 17, 17, 31, 17, 17, 17], "B": [30, 17, 17, 30, 17, 17, 30], "C": [14, 17, 16, 16, 16, 17, 14],
        "D": [28, 18, 17, 17, 17, 18, 28], "E": [31, 16, 16, 30, 16, 16, 31], "F": [31, 16, 16, 30, 16, 16, 16],
        "G": [14, 17, 16, 23, 17, 17, 15], "H": [17, 17, 17, 31, 17, 17, 17], "I": [14, 4, 4, 4, 4, 4, 14],
        "J": [7, 2, 2, 2, 2, 18, 12], "K": [17, 18, 20, 24, 20, 18, 17], "L": [16, 16, 16, 16, 16, 16, 31],
        "M": [17, 27, 21, 21, 17, 17, 17], "N": [17, 17, 25, 21, 19, 17, 17], "O": [14, 17, 17, 17, 17, 17, 14],
        "P": [30, 17, 17, 30, 16, 16, 16], "Q": [14, 17, 17, 17, 21, 18, 13], "R": [30, 17, 17, 30, 20, 18, 17],
        "S": [15, 16, 16, 14, 1, 1, 30], "T": [31, 4, 4, 4, 4, 4, 4], "U": [17, 17, 17, 17, 17, 17, 14],
        "V": [17, 17, 17, 17, 17, 10, 4], "W": [17, 17, 17, 21, 21, 21, 10], "X": [17, 17, 10, 4, 10, 17, 17],
        "Y": [17, 17, 17, 10, 4, 4, 4], "Z": [31, 1, 2, 4, 8, 16, 31],
        // Lowercase (descenders raised one row, as on 5×7 character displays) and symbols.
        "a": [0, 0, 14, 1, 15, 17, 15], "b": [16, 16, 22, 25, 17, 17, 30], "c": [0, 0, 14, 16, 16, 17, 14],
        "d": [1, 1, 13, 19, 17, 17, 15], "e": [0, 0, 14, 17, 31, 16, 14], "f": [6, 9, 8, 28, 8, 8, 8],
        "g": [0, 15, 17, 17, 15, 1, 14], "h": [16, 16, 22, 25, 17, 17, 17], "i": [4, 0, 12, 4, 4, 4, 14],
        "j": [2, 0, 6, 2, 2, 18, 12], "k": [16, 16, 18, 20, 24, 20, 18], "l": [12, 4, 4, 4, 4, 4, 14],
        "m": [0, 0, 26, 21, 21, 17, 17], "n": [0, 0, 22, 25, 17, 17, 17], "o": [0, 0, 14, 17, 17, 17, 14],
        "p": [0, 30, 17, 17, 30, 16, 16], "q": [0, 15, 17, 17, 15, 1, 1], "r": [0, 0, 22, 25, 16, 16, 16],
        "s": [0, 0, 15, 16, 14, 1, 30], "t": [8, 8, 28, 8, 8, 9, 6], "u": [0, 0, 17, 17, 17, 19, 13],
        "v": [0, 0, 17, 17, 17, 10, 4], "w": [0, 0, 17, 17, 21, 21, 10], "x": [0, 0, 17, 10, 4, 10, 17],
        "y": [0, 17, 17, 17, 15, 1, 14], "z": [0, 0, 31, 2, 4, 8, 31],
        "σ": [0, 0, 15, 18, 18, 18, 12], "±": [4, 4, 31, 4, 4, 0, 31], "'": [4, 4, 8, 0, 0, 0, 0],
        "·": [0, 0, 0, 12, 12, 0, 0], "×": [0, 17, 10, 4, 10, 17, 0],
    ]
}
