import { defineConfig } from "vite";

// The build goes to web/dist: index.html (served no-cache) and hashed files under assets/ (immutable).
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
  },
  // amazon-cognito-identity-js (through `buffer`) still refers to Node's `global`.
  define: { global: "globalThis" },
  server: {
    // `npm run dev` next to `make local`: the API, Cognito proxy and config come from local mode.
    proxy: {
      "/api": "http://127.0.0.1:8080",
      "/cognito": "http://127.0.0.1:8080",
      "/config.json": "http://127.0.0.1:8080",
    },
  },
});
