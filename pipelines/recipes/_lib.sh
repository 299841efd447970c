# Shared by the recipes: quote a path as one word of a `pipe run` spec
# (double quotes; backslash escapes `\` and `"` inside them).
spec_word() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}
PIPE_BIN=${PIPE_BIN:-pipe}
