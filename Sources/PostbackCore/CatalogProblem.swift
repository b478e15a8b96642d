/// One thing wrong with a catalog, printed as `postback <id>: <field>: <what is wrong>`.
public struct CatalogProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// `postback 17`, `postback #3` (an element with no usable id, by position), or `catalog`.
    public var subject: String
    public var field: String
    public var message: String

    public init(subject: String, field: String, message: String) {
        self.subject = subject
        self.field = field
        self.message = message
    }

    public var description: String { "\(subject): \(field): \(message)" }
}

/// A catalog refused as a whole, with every problem found.
public struct CatalogError: Error, Sendable, CustomStringConvertible {
    public var problems: [CatalogProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
