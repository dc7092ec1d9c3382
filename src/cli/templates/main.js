// ain-sre function (nodejs): reads a JSON object on stdin, prints a JSON answer on stdout.
// Whatever it prints on stdout is the call's output; stderr is kept as a short tail for debugging.
let text = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (text += chunk));
process.stdin.on("end", () => {
  let request = {};
  try {
    request = JSON.parse(text || "{}");
  } catch (e) {
    process.stderr.write(`input is not JSON: ${e.message}\n`);
    process.exit(2);
  }
  const name = request && typeof request === "object" && request.name ? request.name : "world";
  process.stdout.write(JSON.stringify({ greeting: `hello, ${name}`, function: process.env.SRE_FUNCTION || "" }));
});
