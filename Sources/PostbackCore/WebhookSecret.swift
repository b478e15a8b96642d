/// A Standard Webhooks signing secret: `whsec_` + base64, whose decoded bytes are the
/// HMAC-SHA256 key (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
/// "Signature scheme": the secret is 24 to 64 random bytes).
///
/// Its `description` is masked, so printing a postback never prints the secret; only the
/// catalog file itself (written back by `postbackctl add`/`edit`) holds the text.
public struct WebhookSecret: Sendable, Equatable, CustomStringConvertible {
    /// The catalog's text, `whsec_...`, for writing the catalog back.
    public let text: String
    /// The HMAC key.
    public let key: [UInt8]

    public var description: String { "whsec_…(masked)" }

    public static let prefix = "whsec_"

    /// The secret, or what is wrong with it (as shown after `signing_secret: `).
    public static func parse(_ text: String) -> Result<WebhookSecret, URLTemplate.Problem> {
        guard text.hasPrefix(prefix) else {
            return .failure(.init(message: "must start with \"whsec_\" followed by base64 (Standard Webhooks)"))
        }
        guard let key = decodeBase64(Array(text.utf8.dropFirst(prefix.utf8.count))) else {
            return .failure(.init(message: "the part after \"whsec_\" is not base64"))
        }
        guard (24...64).contains(key.count) else {
            return .failure(.init(message: "decodes to \(key.count) bytes; Standard Webhooks secrets are 24 to 64 random bytes"))
        }
        return .success(WebhookSecret(text: text, key: key))
    }

    /// Standard base64 (RFC 4648 §4), padding optional; nil on any other byte.
    static func decodeBase64(_ input: [UInt8]) -> [UInt8]? {
        var body = input[...]
        while body.last == UInt8(ascii: "=") { body = body.dropLast() }
        guard input.count - body.count <= 2, !body.isEmpty, body.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(body.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for b in body {
            let v: UInt32
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(b - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(b - 97 + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(b - 48 + 52)
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            default: return nil
            }
            accumulator = accumulator << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> UInt32(bits)) & 0xFF))
            }
        }
        return out
    }
}
