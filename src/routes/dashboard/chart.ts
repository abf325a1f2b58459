// Requests per day as an inline SVG bar chart drawn on the server from the stats' `days`: no chart
// library, no script, readable by screen readers through its title and the summary beside it.
import { html, raw, type SafeHtml } from './html.js';

export interface DayCount {
  date: string;
  requests: number;
  notModified: number;
}

const WIDTH = 600;
const HEIGHT = 140;
const AXIS = 18;

export function requestsChart(days: DayCount[]): SafeHtml {
  const total = days.reduce((sum, day) => sum + day.requests, 0);
  const peak = Math.max(1, ...days.map((day) => day.requests));
  const slot = WIDTH / Math.max(1, days.length);
  const plot = HEIGHT - AXIS;
  const bars = days
    .map((day, index) => {
      const height = Math.round((day.requests / peak) * plot);
      const cached = Math.round((day.notModified / peak) * plot);
      const x = (index * slot + 1).toFixed(1);
      const width = Math.max(1, slot - 2).toFixed(1);
      // Numbers and a YYYY-MM-DD date only: nothing here comes from user text.
      const date = /^\d{4}-\d{2}-\d{2}$/.test(day.date) ? day.date : '';
      return (
        `<g><title>${date}: ${day.requests} requests, ${day.notModified} not modified</title>` +
        `<rect class="bar" x="${x}" y="${plot - height}" width="${width}" height="${height}"/>` +
        `<rect class="bar-cached" x="${x}" y="${plot - cached}" width="${width}" height="${cached}"/></g>`
      );
    })
    .join('');
  const first = days[0]?.date ?? '';
  const last = days[days.length - 1]?.date ?? '';
  return html`<figure class="chart">
  <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="chart-title" focusable="false">
    <title id="chart-title">Requests per day, ${first} to ${last}: ${total} in all, at most ${peak} in a day</title>
    <line class="axis" x1="0" y1="${plot}" x2="${WIDTH}" y2="${plot}"/>
    ${raw(bars)}
    <text x="0" y="${HEIGHT - 4}" class="label">${first}</text>
    <text x="${WIDTH}" y="${HEIGHT - 4}" class="label" text-anchor="end">${last}</text>
  </svg>
  <figcaption>Requests per day over the last ${days.length} days (${total} in all; the darker part of a bar is 304 Not Modified answers).</figcaption>
</figure>`;
}
