/// The HTML of pixel postbacks, which a page shows instead of the daemon firing them.
public enum PixelHTML {
    /// The tag for one pixel postback with the record's values filled in. The URL's values are
    /// percent-encoded first and the whole URL is HTML-escaped after, so a value holding
    /// `"><script>` stays text.
    public static func render(_ postback: Postback, record: Record, context: URLTemplate.Context) -> String? {
        let url = escape(postback.template.expand(record, context: context))
        switch postback.delivery {
        case .imagePixel:
            return "<img src=\"\(url)\" width=\"1\" height=\"1\" style=\"display:none\" alt=\"\">"
        case .iframePixel:
            return "<iframe src=\"\(url)\" width=\"1\" height=\"1\" style=\"display:none\" frameborder=\"0\"></iframe>"
        case .postback:
            return nil
        }
    }

    /// Escapes the five characters that can end an attribute or start markup.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
