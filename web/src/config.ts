// The runtime configuration: written next to index.html at deploy time (CDK) or served by local mode.
export interface RuntimeConfig {
  apiUrl: string;
  region: string;
  userPoolId: string;
  userPoolClientId: string;
  cognitoEndpoint?: string;
}

let config: RuntimeConfig | undefined;

export async function loadConfig(): Promise<RuntimeConfig> {
  if (!config) {
    const response = await fetch("/config.json", { cache: "no-store" });
    if (!response.ok) throw new Error(`config.json answered ${response.status}`);
    config = (await response.json()) as RuntimeConfig;
  }
  return config;
}
