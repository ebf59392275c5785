package gatewayapi

import (
	"fmt"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxRegexProgram bounds the size of a route's regular expressions, in instructions of the
// compiled program. Envoy refuses a whole route configuration when one of its regular
// expressions compiles (with RE2) to a program larger than re2.max_program_size.error_level,
// which Flotilla's bootstrap sets to 1000; refusing larger ones here, with room to spare for the
// difference between RE2's count and Go's, keeps one route from taking down every route of the
// fleet.
const maxRegexProgram = 500

// regexSize is the number of instructions of re's compiled program (Go's regexp/syntax, which
// implements RE2's syntax); exact is false when the program is known to be over the limit before it
// is compiled, and size is then a lower bound. A regular expression whose repeats expand it far
// past the limit is never compiled: a thousand routes of "(x{1,100}){1,10}" would otherwise cost
// seconds and gigabytes to refuse. err says why re does not parse.
func regexSize(re string) (size int, exact bool, err error) {
	if lb, ok := lexMinInsts(re); ok && lb > maxRegexProgram {
		return lb, false, nil // far over: not even parsed
	}
	parsed, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return 0, false, err
	}
	if lb := minInsts(parsed); lb > maxRegexProgram {
		return lb, false, nil
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return 0, false, err
	}
	return len(prog.Inst), true, nil
}

// minInsts is a lower bound of the instructions the program of re compiles to (saturating at
// 1<<20): a rune each for a literal, one for a class, a copy of the operand per possible
// repetition (Simplify expands x{m,n} into n copies of x, x{m,} into m+1).
func minInsts(re *syntax.Regexp) int {
	const most = 1 << 20
	sum := func(subs []*syntax.Regexp) int {
		n := 0
		for _, s := range subs {
			n = min(n+minInsts(s), most)
		}
		return n
	}
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpConcat:
		return sum(re.Sub)
	case syntax.OpAlternate:
		return min(sum(re.Sub)+len(re.Sub)-1, most)
	case syntax.OpCapture:
		return min(minInsts(re.Sub[0])+2, most)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		return min(minInsts(re.Sub[0])+1, most)
	case syntax.OpRepeat:
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		if n == 0 {
			return 0
		}
		sub := minInsts(re.Sub[0])
		if sub > most/n {
			return most
		}
		return sub * n
	}
	return 1
}

// regexTooLarge says why a regular expression that parses is too large ("" when it is not);
// what names the match ("path", "header x-id").
func regexTooLarge(what, re string) string {
	n, exact, err := regexSize(re)
	if err != nil {
		return ""
	}
	return tooLarge(what, n, exact)
}

// tooLarge says why a program of n instructions (a lower bound unless exact) is over the limit.
func tooLarge(what string, n int, exact bool) string {
	switch {
	case n <= maxRegexProgram:
		return ""
	case !exact:
		return fmt.Sprintf("%s regular expression compiles to at least %d instructions, more than the limit of %d", what, n, maxRegexProgram)
	}
	return fmt.Sprintf("%s regular expression compiles to %d instructions, more than the limit of %d", what, n, maxRegexProgram)
}

// CheckRegex says why re cannot be a path regular expression ("" when it can): RE2 syntax, and
// no larger a program than routes may use. what names it in the message.
func CheckRegex(what, re string) string {
	n, exact, err := regexSize(re)
	if err != nil {
		return fmt.Sprintf("%s %q is not an RE2 regular expression", what, re)
	}
	return tooLarge(what, n, exact)
}

// lexMinInsts is a lower bound of minInsts read from the pattern's text, without parsing it:
// Go's parser spends tens of microseconds on a pattern of many repeated classes, which a thousand
// oversized patterns turn into most of a fleet's resolution. ok is false for syntax it does not
// follow (flags, \Q…\E, \p, POSIX classes, a brace that is not a repeat, unbalanced groups): the
// parser decides those. It never counts more than the compiled program has: a literal rune or a
// class is one instruction, a repeat multiplies its operand by its largest count, alternatives
// count as the largest of them (the parser factors common prefixes and merges single runes into
// classes, so their sum is no bound), and groups, stars and anchors add nothing.
func lexMinInsts(re string) (int, bool) {
	const most = 1 << 20
	type group struct{ alts, sum int }
	stack := []group{{}}
	last, haveLast := 0, false
	add := func(n int) {
		top := &stack[len(stack)-1]
		top.sum = min(top.sum+n, most)
		last, haveLast = n, true
	}
	for i := 0; i < len(re); {
		switch c := re[i]; c {
		case '\\':
			if i+1 >= len(re) {
				return 0, false
			}
			switch e := re[i+1]; {
			case e == 'b' || e == 'B' || e == 'A' || e == 'z':
				haveLast = false // empty-width: nothing counted
			case e == 'Q' || e == 'p' || e == 'P' || e == 'x' || e == 'C' || (e >= '0' && e <= '9') || e >= 0x80:
				return 0, false
			default:
				add(1)
			}
			i += 2
		case '[':
			j := i + 1
			if j < len(re) && re[j] == '^' {
				j++
			}
			if j < len(re) && re[j] == ']' {
				j++
			}
			for ; j < len(re) && re[j] != ']'; j++ {
				switch re[j] {
				case '\\':
					j++
				case '[':
					return 0, false // [:alpha:] and friends
				}
			}
			if j >= len(re) {
				return 0, false
			}
			add(1)
			i = j + 1
		case '(':
			if strings.HasPrefix(re[i:], "(?") && !strings.HasPrefix(re[i:], "(?:") {
				return 0, false // flags, named groups
			}
			if strings.HasPrefix(re[i:], "(?:") {
				i += 3
			} else {
				i++
			}
			stack = append(stack, group{})
			haveLast = false
		case ')':
			if len(stack) == 1 {
				return 0, false
			}
			g := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			add(max(g.alts, g.sum))
			i++
		case '|':
			top := &stack[len(stack)-1]
			top.alts, top.sum = max(top.alts, top.sum), 0
			haveLast = false
			i++
		case '*', '+', '?':
			if !haveLast {
				return 0, false
			}
			haveLast = false
			i++
			if i < len(re) && re[i] == '?' {
				i++
			}
		case '{':
			end := strings.IndexByte(re[i:], '}')
			if end < 0 || !haveLast {
				return 0, false
			}
			lo, hi, comma := strings.Cut(re[i+1:i+end], ",")
			m, err := strconv.Atoi(lo)
			if err != nil || m > 1000 {
				return 0, false
			}
			n := m
			if comma {
				if hi == "" {
					n = m + 1
				} else if n, err = strconv.Atoi(hi); err != nil || n > 1000 || n < m {
					return 0, false
				}
			}
			top := &stack[len(stack)-1]
			if n == 0 {
				top.sum -= last
			} else if last > 0 {
				top.sum = min(top.sum+min(last, most/n)*(n-1), most)
			}
			haveLast = false
			i += end + 1
			if i < len(re) && re[i] == '?' {
				i++
			}
		case '^', '$':
			haveLast = false
			i++
		default:
			_, size := utf8.DecodeRuneInString(re[i:])
			add(1)
			i += size
		}
	}
	if len(stack) != 1 {
		return 0, false
	}
	return max(stack[0].alts, stack[0].sum), true
}
