import CDFM
import DFM
import Glibc

// Library-wide exports: versions, errors, seed, threads, grad mode.

// The version is the header's (DFM_VERSION_* and DFM_ABI_VERSION), its one source; the
// string is made once and lives for the process (strdup is never freed on purpose).
private let versionString: UnsafePointer<CChar> = UnsafePointer(
    strdup("\(DFM_VERSION_MAJOR).\(DFM_VERSION_MINOR).\(DFM_VERSION_PATCH)")!)

@c @implementation public func dfm_version() -> UnsafePointer<CChar>? { versionString }

@c @implementation public func dfm_abi_version() -> Int32 { Int32(DFM_ABI_VERSION) }

@c @implementation public func dfm_last_error_message() -> UnsafePointer<CChar>? {
    LastError.message
}

@c @implementation public func dfm_last_error_status() -> dfm_status {
    dfm_status(rawValue: LastError.status)
}

@c @implementation public func dfm_status_string(_ status: dfm_status) -> UnsafePointer<CChar>? {
    switch status.rawValue {
    case 0: return cString("DFM_OK")
    case 1: return cString("DFM_INVALID_ARGUMENT")
    case 2: return cString("DFM_SHAPE_MISMATCH")
    case 3: return cString("DFM_OUT_OF_MEMORY")
    case 4: return cString("DFM_IO_ERROR")
    case 5: return cString("DFM_NOT_FOUND")
    case 6: return cString("DFM_STATE_ERROR")
    case 7: return cString("DFM_INTERNAL")
    case 8: return cString("DFM_INDEX_ERROR")
    case 9: return cString("DFM_TYPE_ERROR")
    default: return cString("DFM_UNKNOWN_STATUS")
    }
}

@c @implementation public func dfm_live_handle_count() -> Int64 { Int64(Handles.liveCount) }

@c @implementation public func dfm_manual_seed(_ seed: UInt64) -> dfm_status {
    guarded("dfm_manual_seed") { manualSeed(seed) }
}

@c @implementation public func dfm_set_num_threads(_ n: Int32) -> dfm_status {
    guarded("dfm_set_num_threads") { try Parallel.setThreads(Int(n)) }
}

@c @implementation public func dfm_get_num_threads() -> Int32 { Int32(clamping: Parallel.threads) }

@c @implementation public func dfm_set_grad_enabled(_ enabled: Bool) { GradMode.isEnabled = enabled }

@c @implementation public func dfm_is_grad_enabled() -> Bool { GradMode.isEnabled }
