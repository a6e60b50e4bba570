// The runtime configuration: written next to index.html at deploy time (CDK) or served by local mode.
let config;

export async function loadConfig() {
  if (!config) {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`config.json answered ${response.status}`);
    config = await response.json();
  }
  return config;
}
