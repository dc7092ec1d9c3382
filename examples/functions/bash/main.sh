#!/bin/bash
# ain-sre example function (bash): counts the bytes and lines of its input and prints JSON.
# Bash has no JSON parser, so this one treats its input as text.
input="$(cat; printf x)"
input="${input%x}"
bytes=$(printf '%s' "$input" | wc -c)
lines=$(printf '%s' "$input" | wc -l)
printf '{"bytes":%d,"lines":%d,"runtime":"bash"}' "$bytes" "$lines"
