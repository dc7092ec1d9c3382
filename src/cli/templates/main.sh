#!/bin/bash
# ain-sre function (bash): reads its input on stdin, prints a JSON answer on stdout.
# Whatever it prints on stdout is the call's output; stderr is kept as a short tail for debugging.
# Bash has no JSON parser: this one counts the bytes of its input.
input="$(cat; printf x)"
input="${input%x}"
bytes=$(printf '%s' "$input" | wc -c)
printf '{"bytes":%d,"function":"%s"}' "$bytes" "${SRE_FUNCTION:-}"
