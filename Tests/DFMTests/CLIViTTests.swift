import Foundation
import XCTest

@testable import DFM

/// `dfm-cli train --model vit` (docs/MODELS.md §7) on a tiny budget: the ViT options reach the model,
/// are stored in the checkpoint (eval and resume rebuild the same model), and bad ones are
/// one-line errors.
extension CLITests {
    func testViTTrainEvalAndBadOptions() throws {
        let ck = dir + "/vit.safetensors"
        let vit = ["--model", "vit", "--dim", "16", "--depth", "1", "--heads", "2", "--patch", "7"]
        let (out, _) = try run(["train"] + tiny + vit + ["--checkpoint", ck, "--plot", dir + "/vit.png"])
        XCTAssert(out.contains("dfm train: vit dim=16 depth=1 heads=2 patch=7 mlp=32"), out)
        XCTAssert(out.contains("final test accuracy:"), out)
        let state = try SafeTensors.read(ck)
        XCTAssertEqual(state.tensors["model.pos_embed"]?.shape, [1, 16, 16])  // (28/7)² tokens of width 16
        XCTAssertEqual(state.tensors["model.fuse.weight"]?.shape, [16, 20])  // dim + fb 4 → dim
        let (table, _) = try run([
            "eval", "--checkpoint", ck, "--test-subset", "16", "--gaussian", "0.2", "--salt-pepper", "0.1", "--blur",
            "1",
        ])
        XCTAssert(table.contains("| clean |"), table)
        let (_, e1) = try run(["train"] + tiny + ["--model", "vit", "--patch", "5"], expectCode: 1)
        XCTAssert(e1.hasPrefix("dfm: error:") && e1.contains("not a multiple of the patch size 5"), e1)
        XCTAssertEqual(e1.split(separator: "\n").count, 1, e1)
        let (_, e2) = try run(["train"] + tiny + ["--model", "vit", "--dim", "10", "--heads", "4"], expectCode: 1)
        XCTAssert(e2.contains("divisible"), e2)
        let (_, e3) = try run(["train"] + tiny + ["--model", "vit", "--depth", "0"], expectCode: 1)
        XCTAssert(e3.contains("depth must be in 1...64"), e3)
    }
}
