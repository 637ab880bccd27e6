import Foundation

/// A backward rule: the gradient of the op's output and, per input, a running gradient sum
/// that only this backward pass references (nil when there is none yet, and always nil for
/// rules recorded with `record`) to one gradient (or nil) per input.
typealias GradRule = (_ gradient: Tensor, _ sums: [Tensor?]) throws -> [Tensor?]

/// One recorded operation: the inputs it read and the rule that maps the gradient
/// of its output to gradients of those inputs. Each op writes its rule once, next
/// to its forward, through `record` (or `recordAccumulating`).
final class Node {
    let op: String
    var inputs: [Tensor]
    var backward: GradRule?
    /// Recorded with `recordAccumulating`: the engine passes the running sums.
    let accumulates: Bool

    init(op: String, inputs: [Tensor], accumulates: Bool = false, backward: @escaping GradRule) {
        self.op = op
        self.inputs = inputs
        self.accumulates = accumulates
        self.backward = backward
    }
}

/// Attaches `backward` to `out` when grad mode is on and some input requires grad.
/// `backward` receives d(loss)/d(out) and returns one gradient (or nil) per input,
/// each shaped like that input.
@inline(__always)
func record(
    _ op: String, _ out: Tensor, _ inputs: [Tensor],
    _ backward: @escaping (Tensor) throws -> [Tensor?]
) -> Tensor {
    attach(op, out, inputs, Node(op: op, inputs: inputs) { g, _ in try backward(g) })
}

/// `record` for ops whose gradient for some input is a GEMM that can add into a running sum
/// (a weight used at every feedback step): the rule gets `sums[i]`, the sum so far of input i's
/// gradient when only this backward references it, and for each input returns either that
/// sum after adding its contribution into it, or a tensor it allocated and nothing else holds
/// (the engine then adds later contributions into that one in place).
@inline(__always)
func recordAccumulating(_ op: String, _ out: Tensor, _ inputs: [Tensor], _ backward: @escaping GradRule) -> Tensor {
    attach(op, out, inputs, Node(op: op, inputs: inputs, accumulates: true, backward: backward))
}

@inline(__always)
private func attach(_ op: String, _ out: Tensor, _ inputs: [Tensor], _ node: @autoclosure () -> Node) -> Tensor {
    guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return out }
    // The node goes on a fresh tensor sharing `out`'s memory, not on `out` itself: rules
    // that use their op's output capture `out`, and a node reachable from its own rule
    // would be a reference cycle that leaks every graph dropped without backward
    // (PyTorch's SavedVariable avoids the same cycle by saving outputs without grad_fn).
    let result = Tensor(shape: out.shape, dtype: out.dtype, storage: out.storage, offset: out.offset)
    result.markRecorded(node())
    return result
}

public enum Autograd {
    /// Reverse-mode differentiation from `root`. With `gradient` nil, `root` must hold one
    /// element. Gradients accumulate into leaves' `.grad`. The graph is freed unless
    /// `retainGraph`. The walk is iterative, so deep unrolled graphs are fine.
    public static func backward(_ root: Tensor, gradient: Tensor? = nil, retainGraph: Bool = false) throws {
        guard root.requiresGrad else {
            throw DFMError.state("backward", "element 0 of tensors does not require grad and does not have a grad_fn")
        }
        let seed: Tensor
        if let gradient {
            guard gradient.shape == root.shape, gradient.dtype == root.dtype else {
                throw DFMError.shape(
                    "backward",
                    "gradient has shape \(gradient.shape) (\(gradient.dtype)) but output has shape \(root.shape) (\(root.dtype))"
                )
            }
            seed = gradient
        } else {
            guard root.count == 1 else {
                throw DFMError.state(
                    "backward",
                    "grad can be implicitly created only for scalar outputs (output has shape \(root.shape))")
            }
            seed = try Tensor.full(root.shape, 1, dtype: root.dtype)
        }

        if root.isLeaf {
            root.grad = try GradMode.noGrad { try root.grad.map { try add($0, seed) } ?? seed.clone() }
            return
        }
        // Topological order of non-leaf tensors (post-order DFS with an explicit stack).
        var order: [Tensor?] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Int)] = [(root, 0)]
        visited.insert(ObjectIdentifier(root))
        while let (t, next) = stack.popLast() {
            guard let node = t.node else { continue }
            if next < node.inputs.count {
                stack.append((t, next + 1))
                let child = node.inputs[next]
                if child.node != nil, visited.insert(ObjectIdentifier(child)).inserted {
                    stack.append((child, 0))
                }
            } else {
                order.append(t)
            }
        }

        // Gradient observers (DistributedDataParallel): how many graph edges still lead into
        // each watched leaf, so a leaf is reported as soon as its gradient is final.
        let watched = GradObservers.snapshot()
        var pendingEdges: [ObjectIdentifier: Int] = [:]
        if !watched.isEmpty {
            for t in order {
                for input in t?.node?.inputs ?? [] where input.isLeaf && watched[ObjectIdentifier(input)] != nil {
                    pendingEdges[ObjectIdentifier(input), default: 0] += 1
                }
            }
        }
        var observers: [ObjectIdentifier: GradObserver] = [:]
        for k in pendingEdges.keys { if let o = watched[k] { observers[ObjectIdentifier(o)] = o } }

        do {
            // Parameters do not change during backward: pruned convs gather their live taps once.
            try LiveWeightCache.scope {
                try GradMode.noGrad {
                    var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
                    // Sums this backward allocated and nothing else references: later contributions are
                    // added into them in place (a weight used in T steps gets one buffer, not T). A sum
                    // leaves the set when handed to a rule, which may return it as another input's grad.
                    var owned = Set<ObjectIdentifier>()
                    func accumulate(_ acc: Tensor?, _ ig: Tensor, fresh: Bool) throws -> Tensor {
                        guard let acc else {
                            if fresh { owned.insert(ObjectIdentifier(ig)) }
                            return ig
                        }
                        if owned.contains(ObjectIdentifier(acc)) {
                            EW.addInPlace(acc, ig)
                            return acc
                        }
                        let s = try add(acc, ig)
                        owned.insert(ObjectIdentifier(s))
                        return s
                    }
                    for i in stride(from: order.count - 1, through: 0, by: -1) {
                        guard let t = order[i], let node = t.node else { continue }
                        let watchedInputs =
                            pendingEdges.isEmpty
                            ? [] : node.inputs.filter { $0.isLeaf && pendingEdges[ObjectIdentifier($0)] != nil }
                        defer {
                            for leaf in watchedInputs {
                                let k = ObjectIdentifier(leaf)
                                let left = (pendingEdges[k] ?? 1) - 1
                                pendingEdges[k] = left
                                if left == 0 { watched[k]?.gradReady(leaf) }
                            }
                        }
                        guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                        owned.remove(ObjectIdentifier(g))
                        guard let rule = node.backward else {
                            throw DFMError.state(
                                "backward",
                                "trying to backward through the graph a second time (op \(node.op)); pass retain_graph=true the first time"
                            )
                        }
                        let sums: [Tensor?] =
                            node.accumulates
                            ? node.inputs.map { input in
                                let acc = input.isLeaf ? input.grad : grads[ObjectIdentifier(input)]
                                return acc.flatMap { owned.contains(ObjectIdentifier($0)) ? $0 : nil }
                            } : []
                        let inGrads = try rule(g, sums)
                        for (i, (input, ig)) in zip(node.inputs, inGrads).enumerated() {
                            guard let ig, input.requiresGrad else { continue }
                            if node.accumulates, let sum = sums[i], sum === ig { continue }  // added in place
                            guard ig.shape == input.shape else {
                                throw DFMError(
                                    .internal,
                                    "backward: \(node.op) produced a gradient of shape \(ig.shape) for an input of shape \(input.shape)"
                                )
                            }
                            if input.isLeaf {
                                input.grad = try accumulate(input.grad, ig, fresh: node.accumulates)
                            } else {
                                let k = ObjectIdentifier(input)
                                grads[k] = try accumulate(grads[k], ig, fresh: node.accumulates)
                            }
                        }
                        if !retainGraph {
                            // Drop the rule, the edges and our reference now: activations that only this
                            // node kept alive are freed as soon as backward has used them.
                            node.backward = nil
                            node.inputs = []
                            order[i] = nil
                        }
                    }
                }
            }
        } catch {
            for o in observers.values { o.backwardAbandoned() }
            throw error
        }
        for o in observers.values { try o.backwardFinished() }
        if !retainGraph {
            // Nodes the gradient never reached: drop their edges too, so the graph goes now.
            for t in order { t?.node?.inputs = [] }
        }
    }
}

extension Tensor {
    /// torch's `Tensor.backward(gradient=None, retain_graph=False)`.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) throws {
        try Autograd.backward(self, gradient: gradient, retainGraph: retainGraph)
    }
}

/// Told about gradients as backward produces them (DistributedDataParallel's reducer).
protocol GradObserver: AnyObject {
    /// `leaf`'s gradient is final for this backward pass (called once per watched leaf reached).
    func gradReady(_ leaf: Tensor)
    /// The pass that reached some watched leaf has ended.
    func backwardFinished() throws
    /// The pass threw before finishing.
    func backwardAbandoned()
}

/// Which observer watches which leaf. Empty unless a DDP exists, so plain backward pays one lookup.
enum GradObservers {
    private final class Weak {
        weak var observer: GradObserver?
        init(_ o: GradObserver) { observer = o }
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var table: [ObjectIdentifier: Weak] = [:]

    static func watch(_ leaves: [Tensor], by observer: GradObserver) {
        lock.withLock { for t in leaves { table[ObjectIdentifier(t)] = Weak(observer) } }
    }

    static func unwatch(_ leaves: [ObjectIdentifier]) {
        lock.withLock { for k in leaves { table[k] = nil } }
    }

    static func snapshot() -> [ObjectIdentifier: GradObserver] {
        lock.withLock {
            if table.isEmpty { return [:] }
            var out: [ObjectIdentifier: GradObserver] = [:]
            for (k, w) in table { if let o = w.observer { out[k] = o } }
            return out
        }
    }
}
