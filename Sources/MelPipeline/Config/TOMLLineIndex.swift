/// Where each key of a TOML file sits, for error messages: TOMLKit parses values but keeps no
/// source positions, so this scans the text's lines once.
///
/// Keys are dotted paths with an index for arrays of tables: `client`, `client.name`,
/// `stream[1]`, `stream[1].n-mels`. The scanner knows table headers (`[a.b]`, `[[a]]`), `key =`
/// lines (dotted and quoted keys too), comments, and values that span lines (multi-line strings,
/// arrays): enough for the files meltap reads, which TOMLKit has already accepted as valid TOML.
struct TOMLLineIndex {
    /// 1-based line of each key path.
    private var lines: [String: Int] = [:]

    init(_ text: String) {
        var table = ""            // the current table's path, "" at the top
        var arrayCounts: [String: Int] = [:]
        var multilineDelimiter: String?   // inside a """ or ''' string
        var bracketDepth = 0      // inside a value's [ … ] or { … } spanning lines
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            let line = String(rawLine)
            if let delimiter = multilineDelimiter {
                if line.contains(delimiter) { multilineDelimiter = nil }
                continue
            }
            if bracketDepth > 0 {
                bracketDepth = max(0, bracketDepth + Self.bracketBalance(Self.valuePart(line)))
                continue
            }
            let trimmed = line.trimmingLeadingSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if trimmed.hasPrefix("[[") {
                let name = Self.keyPath(Self.between(trimmed, "[[", "]]"))
                let index = arrayCounts[name, default: 0]
                arrayCounts[name] = index + 1
                table = "\(name)[\(index)]"
                record(table, number)
                continue
            }
            if trimmed.hasPrefix("[") {
                table = Self.resolve(Self.keyPath(Self.between(trimmed, "[", "]")), arrayCounts)
                record(table, number)
                continue
            }
            guard let equals = Self.unquotedIndex(of: "=", in: trimmed) else { continue }
            let key = Self.keyPath(String(trimmed[..<equals]))
            record(table.isEmpty ? key : "\(table).\(key)", number)
            let value = String(trimmed[trimmed.index(after: equals)...])
            for delimiter in ["\"\"\"", "'''"] {
                if let start = value.range(of: delimiter), !value[start.upperBound...].contains(delimiter) {
                    multilineDelimiter = delimiter
                }
            }
            if multilineDelimiter == nil { bracketDepth = max(0, Self.bracketBalance(Self.valuePart(value))) }
        }
    }

    private mutating func record(_ key: String, _ line: Int) {
        if lines[key] == nil { lines[key] = line }
    }

    /// The line of `key`, else of its nearest enclosing table, else 0.
    func line(of key: String) -> Int {
        var path = key
        while true {
            if let line = lines[path] { return line }
            guard let dot = path.lastIndex(of: ".") else { return 0 }
            path = String(path[..<dot])
        }
    }

    /// `a . "b.c"` → `a.b.c`-style path with quotes removed and spaces trimmed.
    static func keyPath(_ text: String) -> String {
        var parts: [String] = [], current = "", quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "." {
                parts.append(current.trimmingSpaces()); current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current.trimmingSpaces())
        return parts.joined(separator: ".")
    }

    /// A `[stream.sub]` header under the latest `[[stream]]` belongs to that element.
    static func resolve(_ path: String, _ arrayCounts: [String: Int]) -> String {
        guard let dot = path.firstIndex(of: ".") else { return path }
        let head = String(path[..<dot])
        guard let count = arrayCounts[head] else { return path }
        return "\(head)[\(count - 1)]" + path[dot...]
    }

    static func between(_ text: String, _ open: String, _ close: String) -> String {
        let afterOpen = text.dropFirst(open.count)
        guard let end = afterOpen.range(of: close) else { return String(afterOpen) }
        return String(afterOpen[..<end.lowerBound])
    }

    /// The index of `target` outside quotes.
    static func unquotedIndex(of target: Character, in text: String) -> String.Index? {
        var quote: Character?
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == target {
                return index
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// `text` without strings and without a trailing comment.
    static func valuePart(_ text: String) -> String {
        var out = "", quote: Character?, escaped = false
        for character in text {
            if let open = quote {
                if escaped { escaped = false } else if character == "\\" && open == "\"" { escaped = true } else if character == open { quote = nil }
                continue
            }
            if character == "#" { break }
            if character == "\"" || character == "'" { quote = character; continue }
            out.append(character)
        }
        return out
    }

    /// Opening minus closing brackets and braces.
    static func bracketBalance(_ text: String) -> Int {
        text.reduce(0) { count, character in
            switch character {
            case "[", "{": return count + 1
            case "]", "}": return count - 1
            default: return count
            }
        }
    }
}

extension String {
    func trimmingLeadingSpaces() -> String { String(drop { $0 == " " || $0 == "\t" }) }
    func trimmingSpaces() -> String {
        String(trimmingLeadingSpaces().reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
