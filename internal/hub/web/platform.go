package web

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/strata-dev/strata/internal/image"
)

// scanPlatform reads the platform an image config names: the string
// values of its top-level "os", "architecture" and "variant". It steps
// over everything else a byte at a time without decoding it, so that a
// config of megabytes of history (the three fields usually come after
// it) costs a pass over its bytes, not a parse. encoding/json has no way
// to skip a value unread, hence this scanner; FuzzScanPlatform holds it
// to what encoding/json reads for every valid document.
func scanPlatform(r io.Reader) (image.Platform, error) {
	var p image.Platform
	br := bufio.NewReaderSize(r, 64<<10)
	sc := &scanner{r: br}
	if sc.next() != '{' {
		return p, errNotObject
	}
	for {
		c := sc.next()
		if c == '}' {
			return p, nil
		}
		if c == ',' {
			c = sc.next()
		}
		if c != '"' {
			return p, errNotObject
		}
		raw, err := sc.str(true)
		if err != nil {
			return p, err
		}
		if sc.next() != ':' {
			return p, errNotObject
		}
		var key string
		json.Unmarshal(raw, &key)
		var field *string
		switch { // encoding/json matches keys regardless of case
		case strings.EqualFold(key, "os"):
			field = &p.OS
		case strings.EqualFold(key, "architecture"):
			field = &p.Architecture
		case strings.EqualFold(key, "variant"):
			field = &p.Variant
		}
		if err := sc.value(field); err != nil {
			return p, err
		}
	}
}

var errNotObject = errors.New("not a JSON object")

// scanner steps through JSON from a reader.
type scanner struct {
	r   *bufio.Reader
	err error
}

// next returns the next byte that is not white space (0 at the end).
func (s *scanner) next() byte {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			s.err = err
			return 0
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
}

// str reads the rest of a string whose opening quote was read; with
// keep, it returns it raw, quotes included.
func (s *scanner) str(keep bool) ([]byte, error) {
	var out []byte
	if keep {
		out = []byte{'"'}
	}
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, c)
		}
		switch c {
		case '\\':
			e, err := s.r.ReadByte()
			if err != nil {
				return nil, err
			}
			if keep {
				out = append(out, e)
			}
		case '"':
			return out, nil
		}
	}
}

// value steps over one value; into, if not nil, gets it when it is a string.
func (s *scanner) value(into *string) error {
	c := s.next()
	switch c {
	case '"':
		raw, err := s.str(into != nil)
		if err == nil && into != nil {
			var v string
			if json.Unmarshal(raw, &v) == nil {
				*into = v
			}
		}
		return err
	case '{', '[':
		return s.skipNested()
	case 0:
		return io.ErrUnexpectedEOF
	}
	// A number, true, false or null: up to the next delimiter.
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		if c == ',' || c == '}' || c == ']' {
			return s.r.UnreadByte()
		}
	}
}

// skipNested steps over an object or array whose opening bracket was read.
func (s *scanner) skipNested() error {
	depth := 1
	for depth > 0 {
		c, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		switch c {
		case '"':
			if _, err := s.str(false); err != nil {
				return err
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return nil
}
