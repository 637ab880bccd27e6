import Foundation

/// Open MPI, loaded at run time with dlopen so libdfm has no link-time dependency on it:
/// a machine without MPI still loads libdfm and runs everything except a process group.
///
/// Open MPI's predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are addresses of
/// global objects (ompi_mpi_comm_world, ompi_mpi_float, ompi_mpi_op_sum); they are looked
/// up with dlsym like the functions. This targets Open MPI's ABI (libmpi.so.40: 3.x to 5.x).
final class MPILibrary: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer

    let initThread:
        @convention(c) (
            UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?,
            Int32, UnsafeMutablePointer<Int32>
        ) -> Int32
    let initialized: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let finalized: @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    let finalize: @convention(c) () -> Int32
    let commRank: @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    let commSize: @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    let allreduce: @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer, Int32, Handle, Handle, Handle) -> Int32
    let iallreduce:
        @convention(c) (
            UnsafeRawPointer?, UnsafeMutableRawPointer, Int32, Handle, Handle, Handle,
            UnsafeMutablePointer<Handle?>
        ) -> Int32
    let bcast: @convention(c) (UnsafeMutableRawPointer, Int32, Handle, Int32, Handle) -> Int32
    let barrier: @convention(c) (Handle) -> Int32
    let allgather:
        @convention(c) (UnsafeRawPointer, Int32, Handle, UnsafeMutableRawPointer, Int32, Handle, Handle) -> Int32
    let waitall: @convention(c) (Int32, UnsafeMutablePointer<Handle?>, UnsafeMutableRawPointer?) -> Int32
    let testall:
        @convention(c) (Int32, UnsafeMutablePointer<Handle?>, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer?) ->
            Int32
    let abort: @convention(c) (Handle, Int32) -> Int32
    let setErrhandler: @convention(c) (Handle, Handle) -> Int32
    let errorString: @convention(c) (Int32, UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32

    let commWorld: Handle
    let errorsReturn: Handle
    let float32: Handle, float64: Handle, int64: Handle, uint8: Handle
    let opSum: Handle, opProd: Handle, opMin: Handle, opMax: Handle

    /// Where the library was found (for messages).
    let path: String

    /// MPI_IN_PLACE in Open MPI.
    static let inPlace = UnsafeRawPointer(bitPattern: 1)
    /// MPI_THREAD_SERIALIZED: calls come from one thread at a time (the training loop's).
    static let threadSerialized: Int32 = 2

    private init(handle: UnsafeMutableRawPointer, path: String) throws {
        func sym<T>(_ name: String, _: T.Type = T.self) throws -> T {
            guard let p = dlsym(handle, name) else {
                throw DFMError.state(
                    "init_process_group", "\(path) has no symbol \(name): dfm needs Open MPI (libmpi.so.40)")
            }
            return unsafeBitCast(p, to: T.self)
        }
        func object(_ name: String) throws -> Handle {
            guard let p = dlsym(handle, name) else {
                throw DFMError.state(
                    "init_process_group", "\(path) has no symbol \(name): dfm needs Open MPI (libmpi.so.40)")
            }
            return p
        }
        self.path = path
        initThread = try sym("MPI_Init_thread")
        initialized = try sym("MPI_Initialized")
        finalized = try sym("MPI_Finalized")
        finalize = try sym("MPI_Finalize")
        commRank = try sym("MPI_Comm_rank")
        commSize = try sym("MPI_Comm_size")
        allreduce = try sym("MPI_Allreduce")
        iallreduce = try sym("MPI_Iallreduce")
        bcast = try sym("MPI_Bcast")
        barrier = try sym("MPI_Barrier")
        allgather = try sym("MPI_Allgather")
        waitall = try sym("MPI_Waitall")
        testall = try sym("MPI_Testall")
        abort = try sym("MPI_Abort")
        setErrhandler = try sym("MPI_Comm_set_errhandler")
        errorString = try sym("MPI_Error_string")
        commWorld = try object("ompi_mpi_comm_world")
        errorsReturn = try object("ompi_mpi_errors_return")
        float32 = try object("ompi_mpi_float")
        float64 = try object("ompi_mpi_double")
        int64 = try object("ompi_mpi_int64_t")
        uint8 = try object("ompi_mpi_uint8_t")
        opSum = try object("ompi_mpi_op_sum")
        opProd = try object("ompi_mpi_op_prod")
        opMin = try object("ompi_mpi_op_min")
        opMax = try object("ompi_mpi_op_max")
    }

    /// Names tried in order: $DFM_MPI_LIBRARY, then Open MPI's soname and the dev link.
    static var candidates: [String] {
        // getenv, not ProcessInfo: the variable may be set by the host program after start-up.
        if let p = getenv("DFM_MPI_LIBRARY"), p.pointee != 0 { return [String(cString: p)] }
        return ["libmpi.so.40", "libmpi.so"]
    }

    private static let loaded: Result<MPILibrary, DFMError> = {
        var errors: [String] = []
        for name in candidates {
            // RTLD_GLOBAL: Open MPI's plugins (mca components) resolve libmpi's symbols globally.
            guard let h = dlopen(name, RTLD_NOW | RTLD_GLOBAL) else {
                errors.append(dlerror().map { String(cString: $0) } ?? "\(name): not found")
                continue
            }
            do { return .success(try MPILibrary(handle: h, path: name)) } catch let e as DFMError {
                return .failure(e)
            } catch { return .failure(DFMError(.internal, "\(error)")) }
        }
        return .failure(
            DFMError.state(
                "init_process_group",
                "MPI is not available: cannot load Open MPI (\(errors.joined(separator: "; "))). Install it (Debian: apt-get install openmpi-bin libopenmpi-dev, as tools/setup.sh does) or set DFM_MPI_LIBRARY to libmpi.so"
            ))
    }()

    /// The library, or the reason it cannot be used.
    static func get() throws -> MPILibrary { try loaded.get() }

    static var isLoadable: Bool { (try? loaded.get()) != nil }

    /// A readable message for an MPI error code.
    func message(_ code: Int32) -> String {
        var buf = [CChar](repeating: 0, count: 512)
        var len: Int32 = 0
        _ = errorString(code, &buf, &len)
        return String(cString: buf)
    }

    /// Throws a DFMError naming `op` when `code` is not MPI_SUCCESS.
    func check(_ code: Int32, _ op: String) throws {
        guard code != 0 else { return }
        throw DFMError.state(op, "MPI error \(code): \(message(code))")
    }
}
