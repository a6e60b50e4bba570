// A small line of the last readings, drawn as inline SVG (no chart library), with its words for screen readers.

interface SparklineProps {
  id: string;
  /** What is measured, e.g. "Bitrate". */
  label: string;
  unit: string;
  values: readonly number[];
  digits?: number;
}

const WIDTH = 160;
const HEIGHT = 40;
const PAD = 3;

export function points(values: readonly number[]): Array<[number, number]> {
  if (values.length === 0) return [];
  const low = Math.min(...values);
  const high = Math.max(...values);
  const span = high - low || 1;
  const step = values.length > 1 ? (WIDTH - 2 * PAD) / (values.length - 1) : 0;
  return values
    .map((value, index) => {
      const x = values.length > 1 ? PAD + index * step : WIDTH / 2;
      const y = high === low ? HEIGHT / 2 : HEIGHT - PAD - ((value - low) / span) * (HEIGHT - 2 * PAD);
      return [Math.round(x * 10) / 10, Math.round(y * 10) / 10] as [number, number];
    });
}

export function Sparkline({ id, label, unit, values, digits = 0 }: SparklineProps) {
  const last = values.length ? values[values.length - 1] : null;
  const shown = (value: number) => `${value.toFixed(digits)} ${unit}`;
  const words =
    last === null
      ? `${label}: no reading yet`
      : `${label}: ${shown(last)} now; ${values.length} reading${values.length === 1 ? "" : "s"} from ${shown(
          Math.min(...values),
        )} to ${shown(Math.max(...values))}`;
  const xy = points(values);
  const end = xy[xy.length - 1];
  return (
    <figure class="st-spark" id={id}>
      <figcaption>
        <span class="st-spark-label">{label}</span>{" "}
        <span class="st-spark-value" id={`${id}-value`}>
          {last === null ? "—" : shown(last)}
        </span>
      </figcaption>
      <svg
        role="img"
        aria-label={words}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width={WIDTH}
        height={HEIGHT}
        preserveAspectRatio="none"
        data-points={values.length}
      >
        <line class="st-spark-base" x1="0" y1={HEIGHT - 0.5} x2={WIDTH} y2={HEIGHT - 0.5} />
        {values.length > 1 && <polyline class="st-spark-line" points={xy.map(([x, y]) => `${x},${y}`).join(" ")} />}
        {end && <circle class="st-spark-dot" r="2.5" cx={end[0]} cy={end[1]} />}
      </svg>
    </figure>
  );
}
