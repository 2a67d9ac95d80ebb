package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/strata-dev/strata/internal/image"
)

// The history entries Docker's classic builder writes, which `history`
// shows: a step that only changes the config is committed with the
// container command [shell..., "#(nop) ", "ENV A=b"], joined with spaces
// (so two spaces after "#(nop)"); COPY, ADD and WORKDIR with
// [shell..., "#(nop) COPY file:HASH in /dest "]; RUN with its command,
// after "|N K=V ..." when build args are in scope.

// defaultShell is the shell of shell-form commands when SHELL set none.
var defaultShell = []string{"/bin/sh", "-c"}

func shellOf(c image.ContainerConfig) []string {
	if len(c.Shell) > 0 {
		return c.Shell
	}
	return defaultShell
}

// nopHistory is the history of a step that changes only the config.
func nopHistory(c image.ContainerConfig, what string) string {
	return strings.Join(append(append([]string{}, shellOf(c)...), "#(nop) ", what), " ")
}

// fileHistory is the history of COPY, ADD and WORKDIR.
func fileHistory(c image.ContainerConfig, what string) string {
	return strings.Join(append(append([]string{}, shellOf(c)...), "#(nop) "+what), " ")
}

// copyHistory is what COPY and ADD record: the hash of what they copied,
// Docker's way: "file:HEX" for one file, "dir:HEX" for a directory,
// "multi:HEX" for several sources; chown is glued to it, as Docker does.
func copyHistory(c image.ContainerConfig, instr, chown string, hashes []string, dest string) string {
	hash := ""
	if len(hashes) == 1 {
		hash = hashes[0]
	} else {
		hash = hashStrings("multi", hashes)
	}
	if chown != "" {
		chown = "--chown=" + chown
	}
	return fileHistory(c, fmt.Sprintf("%s %s%s in %s ", instr, chown, hash, dest))
}

func hashStrings(prefix string, s []string) string {
	h := sha256.Sum256([]byte(strings.Join(s, ",")))
	return prefix + ":" + hex.EncodeToString(h[:])
}

// runHistory is what RUN records: its command, after the build args in
// scope, sorted, as "|N K=V ...".
func runHistory(args []string, buildArgs []string) string {
	if len(buildArgs) == 0 {
		return strings.Join(args, " ")
	}
	sorted := append([]string{}, buildArgs...)
	sort.Strings(sorted)
	return strings.Join(append(append([]string{fmt.Sprintf("|%d", len(sorted))}, sorted...), args...), " ")
}

// healthHistory is how Docker 20.10 prints a HEALTHCHECK: its
// HealthConfig with %q, so durations quoted and the retry count as a
// quoted rune ("&{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x03'}").
func healthHistory(h *image.Healthcheck) string {
	d := func(t time.Duration) string { return strconv.Quote(t.String()) }
	return fmt.Sprintf("HEALTHCHECK &{%q %s %s %s %s}", h.Test, d(h.Interval), d(h.Timeout), d(h.StartPeriod),
		strconv.QuoteRune(rune(h.Retries)))
}
