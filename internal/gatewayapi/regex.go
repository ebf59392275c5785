package gatewayapi

import (
	"fmt"
	"regexp/syntax"
)

// maxRegexProgram bounds the size of a route's regular expressions, in instructions of the
// compiled program. Envoy refuses a whole route configuration when one of its regular
// expressions compiles (with RE2) to a program larger than re2.max_program_size.error_level,
// which Flotilla's bootstrap sets to 1000; refusing larger ones here, with room to spare for the
// difference between RE2's count and Go's, keeps one route from taking down every route of the
// fleet.
const maxRegexProgram = 500

// regexSize is the number of instructions of re's compiled program (Go's regexp/syntax, which
// implements RE2's syntax). err says why re does not parse.
func regexSize(re string) (int, error) {
	parsed, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return 0, err
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return 0, err
	}
	return len(prog.Inst), nil
}

// regexTooLarge says why a regular expression that parses is too large ("" when it is not);
// what names the match ("path", "header x-id").
func regexTooLarge(what, re string) string {
	if n, err := regexSize(re); err == nil && n > maxRegexProgram {
		return fmt.Sprintf("%s regular expression compiles to %d instructions, more than the limit of %d", what, n, maxRegexProgram)
	}
	return ""
}

// CheckRegex says why re cannot be a path regular expression ("" when it can): RE2 syntax, and
// no larger a program than routes may use. what names it in the message.
func CheckRegex(what, re string) string {
	if _, err := regexSize(re); err != nil {
		return fmt.Sprintf("%s %q is not an RE2 regular expression", what, re)
	}
	return regexTooLarge(what, re)
}
