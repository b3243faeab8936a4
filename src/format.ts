// Byte counts for people. No native code here: the CLI's /proc readers use it.

export function formatBytes(bytes: number): string {
  if (bytes === Infinity) return 'unlimited';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${Number(value.toFixed(1))} ${units[unit]}`;
}
