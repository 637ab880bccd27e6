// The W1-W7 workloads of docs/BENCHMARKS.md through dfm, Swift-direct: one
// workload per process (so peak RSS is that workload's), 2 warm-ups, median of the reps.
// bench/workloads_torch.py runs the same workloads in PyTorch; keep the two tables identical.
import DFM
import Dispatch
import Foundation

/// A model under benchmark: its trainable parameters, train/eval switch, and one forward
/// of T feedback steps (early stop disabled: every run does exactly T steps).
struct BenchModel {
    let module: Module
    let forward: (Tensor, Int) throws -> Tensor
    let stepsRun: () -> Int
    /// Turns the model's checkpoint_steps (recompute each step's activations in backward) on/off.
    let setCheckpoint: (Bool) -> Void
}

struct Workload {
    let id: String
    let input: [Int]  // B, C, H, W
    let T: Int
    let kind: Kind
    let classes: Int
    let make: () throws -> BenchModel

    enum Kind: String { case train, infer, seg }
}

let workloads: [Workload] = [
    Workload(id: "W1", input: [32, 3, 32, 32], T: 5, kind: .train, classes: 10) {
        try resnetModel(depth: 18, fb: 8, classes: 10, shape: [32, 32], inChannels: 3)
    },
    Workload(id: "W2", input: [32, 3, 64, 64], T: 5, kind: .train, classes: 10) {
        try resnetModel(depth: 18, fb: 8, classes: 10, shape: [64, 64], inChannels: 3)
    },
    Workload(id: "W3", input: [32, 3, 32, 32], T: 5, kind: .infer, classes: 10) {
        try resnetModel(depth: 18, fb: 8, classes: 10, shape: [32, 32], inChannels: 3)
    },
    Workload(id: "W4", input: [32, 1, 28, 28], T: 5, kind: .train, classes: 10) {
        try resnetModel(depth: 18, fb: 10, classes: 10, shape: [28, 28], inChannels: 1)
    },
    Workload(id: "W5", input: [4, 3, 64, 64], T: 3, kind: .seg, classes: 8) {
        try deeplabModel(fb: 2, classFilters: 256, classes: 8, shape: [64, 64])
    },
    Workload(id: "W6", input: [8, 3, 64, 64], T: 3, kind: .train, classes: 10) {
        try resnetModel(depth: 50, fb: 8, classes: 10, shape: [64, 64], inChannels: 3)
    },
    Workload(id: "W7", input: [32, 1, 28, 28], T: 5, kind: .train, classes: 10) {
        let m = try DFMViT(
            imageSize: [28, 28], patchSize: 4, inChannels: 1, dim: 128, depth: 6, heads: 4, mlpDim: 256,
            fbFilters: 8, nClasses: 10)
        return BenchModel(
            module: m, forward: { x, T in try m.forward(x, T: T, atol: benchAtol) }, stepsRun: { m.stepsRun },
            setCheckpoint: { m.checkpointSteps = $0 })
    },
]

/// atol 0 never stops the loop early on real data, so every run does exactly T steps
/// (the PyTorch side uses the same value).
let benchAtol: Float = 0

func resnetModel(depth: Int, fb: Int, classes: Int, shape: [Int], inChannels: Int) throws -> BenchModel {
    let m =
        depth == 50
        ? try DFMResNet.resnet50(fbFilters: fb, nClasses: classes, shape: shape, inChannels: inChannels)
        : try DFMResNet.resnet18(fbFilters: fb, nClasses: classes, shape: shape, inChannels: inChannels)
    return BenchModel(
        module: m, forward: { x, T in try m.forward(x, T: T, atol: benchAtol) }, stepsRun: { m.stepsRun },
        setCheckpoint: { m.checkpointSteps = $0 })
}

func deeplabModel(fb: Int, classFilters: Int, classes: Int, shape: [Int]) throws -> BenchModel {
    let m = try DeepLabV3Plus(inFilters: 3, fbFilters: fb, classFilters: classFilters, classes: classes, shape: shape)
    return BenchModel(
        module: m, forward: { x, T in try m.forward(x, T: T, atol: benchAtol) }, stepsRun: { m.stepsRun },
        setCheckpoint: { m.checkpointSteps = $0 })
}

/// Peak resident set of this process in MB (Linux reports ru_maxrss in KB).
func peakRSSMB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

/// (user s, sys s, minor faults) of this process so far: the kernel-time share of the timed steps.
func cpuUsage() -> (user: Double, sys: Double, minflt: Int) {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return (
        Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) * 1e-6,
        Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) * 1e-6, u.ru_minflt
    )
}

/// Runs one workload and prints one JSON line (the format of bench/workloads_torch.py).
/// `steps` overrides the workload's T (memory-vs-T measurements).
func runWorkload(_ id: String, warmup: Int, reps: Int, steps: Int? = nil, checkpoint: Bool = false) throws {
    guard let w = workloads.first(where: { $0.id == id }) else {
        throw DFMError(
            .invalidArgument, "dfm-bench: " + "unknown workload '\(id)' (expected one of \(workloads.map(\.id)))")
    }
    manualSeed(0)
    let T = steps ?? w.T
    let model = try w.make()
    model.setCheckpoint(checkpoint)
    let x = try randn(w.input)
    let (b, h, wd) = (w.input[0], w.input[2], w.input[3])
    let labelShape = w.kind == .seg ? [b, h, wd] : [b]
    let labels = try Tensor(
        int64: (0..<labelShape.reduce(1, *)).map { Int64(($0 * 7 + 3) % w.classes) }, shape: labelShape)

    let step: () throws -> Void
    if w.kind == .infer {
        _ = model.module.eval()
        step = { _ = try GradMode.noGrad { try model.forward(x, T) } }
    } else {
        _ = model.module.train()
        let opt = try Adam(model.module.parameters().filter { $0.requiresGrad }, lr: 1e-3)
        step = {
            opt.zeroGrad()
            let loss = try crossEntropy(try model.forward(x, T), labels)
            try loss.backward()
            try opt.step()
        }
    }
    var times: [Double] = []
    var cpu0 = cpuUsage()
    for i in 0..<(warmup + reps) {
        if i == warmup { cpu0 = cpuUsage() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        try step()
        let t1 = DispatchTime.now().uptimeNanoseconds
        if i >= warmup { times.append(Double(t1 - t0) * 1e-6) }
    }
    let cpu1 = cpuUsage()
    let user = cpu1.user - cpu0.user
    let sys = cpu1.sys - cpu0.sys
    let sysPct = user + sys > 0 ? 100 * sys / (user + sys) : 0
    let faults = (cpu1.minflt - cpu0.minflt) / max(1, reps)
    let sorted = times.sorted()
    let median =
        sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    let list = times.map { String(format: "%.3f", $0) }.joined(separator: ", ")
    print(
        "{\"impl\": \"dfm\", \"workload\": \"\(id)\", \"ms\": \(median), \"times_ms\": [\(list)], "
            + "\"maxrss_mb\": \(String(format: "%.1f", peakRSSMB())), \"steps\": \(model.stepsRun()), \"threads\": \(Parallel.threads), "
            + "\"checkpoint_steps\": \(checkpoint), \"sys_pct\": \(String(format: "%.1f", sysPct)), "
            + "\"cpu_s_per_step\": \(String(format: "%.4f", (user + sys) / Double(max(1, reps)))), \"minflt_per_step\": \(faults)}"
    )
}
