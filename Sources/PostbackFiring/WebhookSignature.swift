import Crypto
import PostbackCore

/// Standard Webhooks signing (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
/// `webhook-signature: v1,<base64 of HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`,
/// the key being the secret's decoded bytes. Pure: the caller passes the time.
public enum WebhookSignature {
    /// The `webhook-signature` value, `v1,<base64>`.
    public static func sign(key: [UInt8], id: String, timestamp: Int64, body: [UInt8]) -> String {
        var content = Array(id.utf8)
        content.append(UInt8(ascii: "."))
        appendDecimal(timestamp, to: &content)
        content.append(UInt8(ascii: "."))
        content.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))
        return "v1," + base64(Array(mac))
    }

    /// The three headers, in the spec's order.
    public static func headerLines(key: [UInt8], id: String, timestamp: Int64, body: [UInt8]) -> [String] {
        ["webhook-id: \(id)", "webhook-timestamp: \(timestamp)",
         "webhook-signature: \(sign(key: key, id: id, timestamp: timestamp, body: body))"]
    }

    static func base64(_ input: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var i = 0
        while i < input.count {
            let rest = min(3, input.count - i)
            var n = UInt32(input[i]) << 16
            if rest > 1 { n |= UInt32(input[i + 1]) << 8 }
            if rest > 2 { n |= UInt32(input[i + 2]) }
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest > 1 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(rest > 2 ? alphabet[Int(n & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// `{fire_id}` and `webhook-id`: one id per (record, postback), the same on every attempt and
/// after a restart. Derived, never stored: from what already names a fire durably in the spool
/// (the ledger and `deferred/` key a fire by its spool file's name, its line and the postback
/// id; those travel with a deferred fire) plus the record's transaction id, so a spool file
/// name that ingest reuses later cannot give another record's fire the same id.
/// `fire_` + the first 16 bytes of SHA-256 over those, in hex.
public enum FireIdentity {
    public static func make(source: String, line: Int, postbackID: Int64, transactionID: String) -> String {
        var input = Array("postbackd fire v1\n".utf8)
        input.append(contentsOf: source.utf8)
        input.append(0x0A)
        appendDecimal(line, to: &input)
        input.append(0x0A)
        appendDecimal(postbackID, to: &input)
        input.append(0x0A)
        input.append(contentsOf: transactionID.utf8)
        let digest = SHA256.hash(data: input)
        let hex = Array("0123456789abcdef".utf8)
        var out = Array("fire_".utf8)
        for byte in digest.prefix(16) {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
