/// A validated set of postbacks, in id order.
///
/// A catalog is accepted or refused whole: `load` returns every problem it finds, so an
/// operator fixes them in one pass and a daemon keeps serving its previous catalog.
public struct Catalog: Sendable {
    public let postbacks: [Postback]

    public init(postbacks: [Postback]) {
        self.postbacks = postbacks.sorted { $0.id < $1.id }
    }

    public subscript(id id: Int64) -> Postback? {
        var low = 0, high = postbacks.count
        while low < high {
            let mid = (low + high) / 2
            if postbacks[mid].id < id { low = mid + 1 } else { high = mid }
        }
        return low < postbacks.count && postbacks[low].id == id ? postbacks[low] : nil
    }

    /// Decodes and validates catalog JSON (`{"postbacks": [...]}`).
    public static func load(_ json: [UInt8]) -> Result<Catalog, CatalogError> {
        json.withUnsafeBufferPointer { load($0) }
    }

    public static func load(_ json: UnsafeBufferPointer<UInt8>) -> Result<Catalog, CatalogError> {
        var drafts: [PostbackDraft] = []
        var scanner = JSONScanner(json)
        var sawPostbacks = false
        do throws(JSONScanner.Failure) {
            if scanner.peek() == nil { throw scanner.fail("the file is empty") }
            guard scanner.peek() == UInt8(ascii: "{") else {
                throw scanner.fail("expected an object {\"postbacks\": [...]}")
            }
            try scanner.readObject(depth: 0) { (s: inout JSONScanner, key: String) throws(JSONScanner.Failure) in
                guard key == "postbacks" else { return try s.skipValue(depth: 1) }
                sawPostbacks = true
                guard s.peek() == UInt8(ascii: "[") else {
                    throw s.fail("\"postbacks\" must be an array")
                }
                try s.readArray(depth: 1) { (s: inout JSONScanner, index: Int) throws(JSONScanner.Failure) in
                    drafts.append(try PostbackDraft.read(&s, position: index + 1))
                }
            }
            try scanner.expectEnd()
        } catch {
            let (line, column) = JSONScanner.position(of: error.offset, in: json)
            return .failure(CatalogError(problems: [
                CatalogProblem(subject: "catalog", field: "line \(line), column \(column)", message: error.message)
            ]))
        }
        guard sawPostbacks else {
            return .failure(CatalogError(problems: [
                CatalogProblem(subject: "catalog", field: "postbacks", message: "missing; expected {\"postbacks\": [...]}")
            ]))
        }
        return validate(drafts)
    }

    static func validate(_ drafts: [PostbackDraft]) -> Result<Catalog, CatalogError> {
        var problems: [CatalogProblem] = []
        var postbacks: [Postback] = []
        postbacks.reserveCapacity(drafts.count)
        var firstPosition: [Int64: Int] = [:]
        firstPosition.reserveCapacity(drafts.count)
        for draft in drafts {
            if let id = draft.id {
                if let first = firstPosition[id] {
                    problems.append(CatalogProblem(
                        subject: draft.subject, field: "id",
                        message: "duplicate id; also used by postback #\(first) in the list"))
                } else {
                    firstPosition[id] = draft.position
                }
            }
            switch draft.build() {
            case .success(let postback): postbacks.append(postback)
            case .failure(let found): problems.append(contentsOf: found.problems)
            }
        }
        if !problems.isEmpty { return .failure(CatalogError(problems: problems)) }
        return .success(Catalog(postbacks: postbacks))
    }
}
