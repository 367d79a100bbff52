package record

import (
	"errors"
	"strconv"
)

// The service keeps item data in two stores that must agree on what they
// hold: the embedded store keeps any JSON as bytes, but PostgreSQL's jsonb
// refuses some valid JSON. Data that one mode would keep and the other
// refuse would make the modes answer differently (and, in PostgreSQL mode, a
// reply holding such a value used to fail its whole batch), so both modes
// refuse it: CheckData is the one rule, used for item data on create and
// for the data of every sync reply entry.
//
// What jsonb refuses, found against PostgreSQL 15 and checked against the
// database by internal/replicated's TestStorableRuleMatchesPostgreSQL:
//   - a string (or key) holding U+0000, written \u0000;
//   - a \u escape of a UTF-16 surrogate that is not part of a pair;
//   - a number outside numeric's range: 1e131072 or more in magnitude,
//     more than 16383 digits after the decimal point once the exponent is
//     applied (trailing zeros count), or an exponent of 2^30-1 or more
//     either way, whatever the digits.

// Limits of PostgreSQL's numeric (src/backend/utils/adt/numeric.c).
const (
	maxDecimalWeight = 4*0x7FFF + 3          // NUMERIC_WEIGHT_MAX base-10000 digits, in decimal digits
	maxDecimalScale  = 0x3FFF                // NUMERIC_DSCALE_MAX
	maxExponent      = (1<<31-1)/2 - 1       // exponents of INT_MAX/2 or more are refused
	maxExponentChars = len("1073741823") + 1 // more digits than this is out of range anyway
)

// Errors of CheckData, for callers that tell them apart.
var (
	ErrNulInString      = errors.New(`a string holds \u0000, which cannot be stored`)
	ErrLoneSurrogate    = errors.New(`a string holds a \u escape of an unpaired UTF-16 surrogate, which cannot be stored`)
	ErrNumberOutOfRange = errors.New("a number is outside the range that can be stored (magnitude below 1e131072, at most 16383 decimal places)")
)

// CheckData returns nil if data, valid JSON, can be stored by every mode of
// the service, and one of the errors above if not. It looks only at the
// strings that have escapes and at the numbers, in one pass over the bytes;
// it does not check that data is valid JSON.
func CheckData(data []byte) error {
	for i := 0; i < len(data); {
		switch c := data[i]; {
		case c == '"':
			end, escaped := stringEnd(data, i)
			if escaped {
				if err := CheckString(data[i:end]); err != nil {
					return err
				}
			}
			i = end
		case c == '-' || c >= '0' && c <= '9':
			end := i + 1
			for end < len(data) && isNumberByte(data[end]) {
				end++
			}
			if err := CheckNumber(data[i:end]); err != nil {
				return err
			}
			i = end
		default:
			i++
		}
	}
	return nil
}

// stringEnd returns the index just past the string that starts at data[i]
// (a quote), and whether it has escapes.
func stringEnd(data []byte, i int) (end int, escaped bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return len(data), escaped
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// CheckString checks one JSON string token, quotes included, for the
// escapes that cannot be stored.
func CheckString(raw []byte) error {
	pendingHigh := false // the previous escape was a high surrogate
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			if pendingHigh {
				return ErrLoneSurrogate
			}
			continue
		}
		i++
		if i >= len(raw) {
			break
		}
		if raw[i] != 'u' {
			if pendingHigh {
				return ErrLoneSurrogate
			}
			continue
		}
		if i+4 >= len(raw) {
			break // malformed: not ours to judge
		}
		r, err := strconv.ParseUint(string(raw[i+1:i+5]), 16, 32)
		if err != nil {
			break
		}
		i += 4
		switch {
		case r == 0:
			return ErrNulInString
		case r >= 0xD800 && r < 0xDC00:
			if pendingHigh {
				return ErrLoneSurrogate
			}
			pendingHigh = true
		case r >= 0xDC00 && r < 0xE000:
			if !pendingHigh {
				return ErrLoneSurrogate
			}
			pendingHigh = false
		default:
			if pendingHigh {
				return ErrLoneSurrogate
			}
		}
	}
	if pendingHigh {
		return ErrLoneSurrogate
	}
	return nil
}

// CheckNumber checks one JSON number token against numeric's range. A
// token that is not a JSON number is not judged here.
func CheckNumber(raw []byte) error {
	i := 0
	if i < len(raw) && raw[i] == '-' {
		i++
	}
	intStart := i
	for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
		i++
	}
	intDigits := raw[intStart:i]
	var fracDigits []byte
	if i < len(raw) && raw[i] == '.' {
		i++
		start := i
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
		fracDigits = raw[start:i]
	}
	exp := 0
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		neg := false
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			neg = raw[i] == '-'
			i++
		}
		digits := raw[i:]
		for len(digits) > 1 && digits[0] == '0' {
			digits = digits[1:]
		}
		if len(digits) > maxExponentChars {
			return ErrNumberOutOfRange
		}
		e, err := strconv.Atoi(string(digits))
		if err != nil {
			return nil // not a number: not ours to judge
		}
		if e > maxExponent {
			return ErrNumberOutOfRange
		}
		exp = e
		if neg {
			exp = -e
		}
	}
	if len(fracDigits)-exp > maxDecimalScale {
		return ErrNumberOutOfRange
	}
	// The decimal weight of the first significant digit: 0 for the units.
	for k, c := range intDigits {
		if c != '0' {
			if len(intDigits)-1-k+exp > maxDecimalWeight {
				return ErrNumberOutOfRange
			}
			return nil
		}
	}
	for k, c := range fracDigits {
		if c != '0' {
			if -1-k+exp > maxDecimalWeight {
				return ErrNumberOutOfRange
			}
			return nil
		}
	}
	return nil // zero
}
