import Foundation
import PostbackCore
import Synchronization
#if POSTBACKD_CRASH_POINTS
import PostbackSpool
#endif

/// The catalog the daemon fires from, swapped whole on reload.
///
/// A reload builds the new index off to the side and swaps it in only if the catalog is valid;
/// a refused catalog leaves the previous index serving, and the refusal says why.
public final class CatalogStore: Sendable {
    private struct Current: Sendable {
        var path: String
        var index: PostbackIndex
    }

    private let current: Mutex<Current>

    /// Loads the catalog at `path`; the daemon does not start without a valid one.
    public init(path: String, paused: Set<Int64> = []) throws(CatalogLoadError) {
        let catalog = try Self.load(path)
        current = Mutex(Current(path: path, index: PostbackIndex(catalog: catalog, paused: paused)))
    }

    /// The index to resolve records with; a snapshot, unaffected by a later reload.
    public var index: PostbackIndex { current.withLock { $0.index } }

    /// Rebuilds the index without the postbacks the daemon has paused. Returns the ids paused
    /// or resumed by this change.
    @discardableResult
    public func setPaused(_ paused: Set<Int64>) -> Set<Int64> {
        current.withLock { current in
            let changed = current.index.paused.symmetricDifference(paused)
            current.index = PostbackIndex(catalog: current.index.catalog, paused: paused)
            return changed
        }
    }

    /// Loads `path` and swaps it in, or keeps the current index and throws.
    @discardableResult
    public func reload(path: String) throws(CatalogLoadError) -> Catalog {
        let catalog = try Self.load(path)
        #if POSTBACKD_CRASH_POINTS
        CrashPoint.reached(.reload)
        #endif
        current.withLock { current in
            current = Current(path: path, index: PostbackIndex(catalog: catalog, paused: current.index.paused))
        }
        return catalog
    }

    static func load(_ path: String) throws(CatalogLoadError) -> Catalog {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CatalogLoadError(path: path, problems: ["catalog: \(path): cannot read (missing or not readable)"])
        }
        switch Catalog.load([UInt8](data)) {
        case .success(let catalog): return catalog
        case .failure(let error): throw CatalogLoadError(path: path, problems: error.problems.map(\.description))
        }
    }
}

/// Why a catalog was not taken, one line per problem.
public struct CatalogLoadError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}
