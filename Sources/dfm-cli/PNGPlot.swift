import CZlib
import DFM
import Foundation

/// A small line-chart renderer that writes PNG files (RGB, zlib via CZlib), so
/// training curves and experiment plots need no Python or plotting library.
struct LinePlot {
    struct Series { var name: String; var xs: [Double]; var ys: [Double]; var color: (UInt8, UInt8, UInt8) }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series] = []
    let width = 720, height = 440
    let left = 70, right = 20, top = 40, bottom = 60

    static let palette: [(UInt8, UInt8, UInt8)] = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189)]

    mutating func add(_ name: String, xs: [Double], ys: [Double]) {
        series.append(Series(name: name, xs: xs, ys: ys, color: LinePlot.palette[series.count % LinePlot.palette.count]))
    }

    func render() -> [UInt8] {
        var img = [UInt8](repeating: 255, count: width * height * 3)
        func px(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            let o = (y * width + x) * 3
            img[o] = c.0; img[o + 1] = c.1; img[o + 2] = c.2
        }
        func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (UInt8, UInt8, UInt8), thick: Bool = false) {
            var x = x0, y = y0
            let dx = Swift.abs(x1 - x0), dy = -Swift.abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
            var err = dx + dy
            while true {
                px(x, y, c)
                if thick { px(x + 1, y, c); px(x, y + 1, c) }
                if x == x1 && y == y1 { break }
                let e2 = 2 * err
                if e2 >= dy { err += dy; x += sx }
                if e2 <= dx { err += dx; y += sy }
            }
        }
        func text(_ s: String, _ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
            var cx = x
            for ch in s.uppercased() {
                if let rows = Font5x7.glyphs[ch] {
                    for (r, bits) in rows.enumerated() {
                        for b in 0..<5 where bits & (1 << (4 - b)) != 0 { px(cx + b, y + r, c) }
                    }
                }
                cx += 6
            }
        }
        let allX = series.flatMap(\.xs), allY = series.flatMap(\.ys).filter(\.isFinite)
        var x0 = allX.min() ?? 0, x1 = allX.max() ?? 1
        var y0 = allY.min() ?? 0, y1 = allY.max() ?? 1
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
        let pad = (y1 - y0) * 0.05
        y0 -= pad; y1 += pad
        let pw = width - left - right, ph = height - top - bottom
        func sx(_ v: Double) -> Int { left + Int((v - x0) / (x1 - x0) * Double(pw)) }
        func sy(_ v: Double) -> Int { top + ph - Int((v - y0) / (y1 - y0) * Double(ph)) }
        // Axes, grid and tick labels.
        for k in 0...5 {
            let fy = y0 + (y1 - y0) * Double(k) / 5, fx = x0 + (x1 - x0) * Double(k) / 5
            let gy = sy(fy), gx = sx(fx)
            line(left, gy, left + pw, gy, (225, 225, 225))
            line(gx, top, gx, top + ph, (225, 225, 225))
            text(LinePlot.fmt(fy), 4, gy - 3)
            text(LinePlot.fmt(fx), gx - 12, top + ph + 8)
        }
        line(left, top, left, top + ph, (0, 0, 0))
        line(left, top + ph, left + pw, top + ph, (0, 0, 0))
        text(title, left, 14)
        text(xLabel, left + pw / 2 - 3 * xLabel.count, height - 22)
        text(yLabel, 4, top - 14)
        for (k, s) in series.enumerated() {
            let pts = zip(s.xs, s.ys).filter { $0.1.isFinite }
            for i in 1..<max(pts.count, 1) {
                line(sx(pts[i - 1].0), sy(pts[i - 1].1), sx(pts[i].0), sy(pts[i].1), s.color, thick: true)
            }
            for p in pts { for d in -2...2 { px(sx(p.0) + d, sy(p.1), s.color); px(sx(p.0), sy(p.1) + d, s.color) } }
            let ly = top + 8 + 12 * k
            line(left + pw - 150, ly + 3, left + pw - 135, ly + 3, s.color, thick: true)
            text(s.name, left + pw - 130, ly)
        }
        return img
    }

    static func fmt(_ v: Double) -> String {
        if Swift.abs(v) >= 1000 { return String(format: "%.0f", v) }
        if Swift.abs(v) >= 10 { return String(format: "%.1f", v) }
        return String(format: "%.3f", v)
    }

    func write(_ path: String) throws {
        try PNG.write(render(), width: width, height: height, channels: 3, to: path)
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
    ]
}
