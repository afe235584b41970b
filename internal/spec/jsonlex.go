package spec

import (
	"encoding/json"
	"io"
	"unicode/utf8"
)

// jsonLexer reads the tokens of a JSON text already known to be valid
// (json.Valid), as json.Decoder's Token (with UseNumber) would give them.
// The Decoder rescans each scalar as a value of its own and builds a
// syntax error for the delimiter that ends it, which was half of what a
// small spec cost to parse (a batch parses a thousand); this walks the
// bytes once. Invalid JSON keeps the Decoder, for its errors and its order
// of them; TestJSONLexerMatchesDecoder and FuzzJSONLexer hold the two to
// the same tokens.
type jsonLexer struct {
	data []byte
	off  int // end of the last token read
}

// tokenSource is what jsonReader reads: a *json.Decoder or a *jsonLexer.
type tokenSource interface {
	Token() (json.Token, error)
	More() bool
	InputOffset() int64
}

var (
	_ tokenSource = (*json.Decoder)(nil)
	_ tokenSource = (*jsonLexer)(nil)
)

// skip passes white space and the separators Token skips too.
func (x *jsonLexer) skip() int {
	i := x.off
	for i < len(x.data) {
		switch x.data[i] {
		case ' ', '\t', '\r', '\n', ',', ':':
			i++
		default:
			return i
		}
	}
	return i
}

// More reports whether the current array or object has another element.
func (x *jsonLexer) More() bool {
	i := x.skip()
	return i < len(x.data) && x.data[i] != ']' && x.data[i] != '}'
}

// InputOffset is the offset of the end of the last token, as the
// Decoder's.
func (x *jsonLexer) InputOffset() int64 { return int64(x.off) }

// Token returns the next token: a json.Delim, a string, a json.Number, a
// bool or nil; io.EOF at the end.
func (x *jsonLexer) Token() (json.Token, error) {
	i := x.skip()
	if i >= len(x.data) {
		x.off = i
		return nil, io.EOF
	}
	switch c := x.data[i]; c {
	case '{', '}', '[', ']':
		x.off = i + 1
		return json.Delim(c), nil
	case '"':
		plain := true
		j := i + 1
		for ; j < len(x.data) && x.data[j] != '"'; j++ {
			if x.data[j] == '\\' {
				plain = false
				j++ // the escaped byte, maybe a quote
			}
		}
		x.off = j + 1
		raw := x.data[i:x.off]
		if plain && utf8.Valid(raw) {
			return string(raw[1 : len(raw)-1]), nil
		}
		// Escapes, or bytes that are not UTF-8 (replaced by U+FFFD): as
		// the Decoder unquotes them.
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return s, nil
	case 't':
		x.off = i + len("true")
		return true, nil
	case 'f':
		x.off = i + len("false")
		return false, nil
	case 'n':
		x.off = i + len("null")
		return nil, nil
	}
	j := i
	for j < len(x.data) {
		switch x.data[j] {
		case '-', '+', '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			j++
			continue
		}
		break
	}
	x.off = j
	return json.Number(x.data[i:j]), nil
}
