import Foundation

/// A one-line progress bar on stderr: step, loss, images/s, ETA.
struct ProgressBar {
    let total: Int
    let label: String
    let start = Date()
    let isTTY = isatty(2) != 0
    var lastDraw = Date.distantPast

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    mutating func update(step: Int, loss: Float, images: Int) {
        let now = Date()
        let done = step == total
        // Redraw at most 5×/s on a terminal; every 10% when logging to a file.
        if isTTY {
            guard done || now.timeIntervalSince(lastDraw) > 0.2 else { return }
        } else {
            guard done || step % max(1, total / 10) == 0 else { return }
        }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let rate = Double(images) / max(elapsed, 1e-9)
        let eta = step > 0 ? elapsed / Double(step) * Double(total - step) : 0
        let width = 24
        let filled = total > 0 ? width * step / total : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(
            format: "%@ [%@] %d/%d loss %.4f  %.0f img/s  ETA %@", label, bar, step, total, loss, rate,
            ProgressBar.clock(eta))
        FileHandle.standardError.write(Data(((isTTY ? "\r\u{1B}[K" : "") + line + (done || !isTTY ? "\n" : "")).utf8))
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600
            ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
