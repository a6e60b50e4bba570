import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export type Loaded<T> =
  | { state: "loading" }
  | { state: "failed"; error: string }
  | { state: "ready"; data: T };

/** Loads data for a screen; `reload` fetches it again (after a change) without showing "loading" again. */
export function useLoad<T>(load: () => Promise<T>): [Loaded<T>, () => Promise<T | null>] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: "loading" });
  const latest = useRef(load);
  latest.current = load;
  const mounted = useRef(true);
  const reload = useCallback(async () => {
    try {
      const data = await latest.current();
      if (mounted.current) setLoaded({ state: "ready", data });
      return data;
    } catch (error) {
      if (mounted.current) setLoaded({ state: "failed", error: (error as Error).message || String(error) });
      return null;
    }
  }, []);
  useEffect(() => {
    mounted.current = true;
    void reload();
    return () => {
      mounted.current = false;
    };
  }, [reload]);
  return [loaded, reload];
}
