/*
 * Suffix array construction by induced sorting (SA-IS: Nong, Zhang and Chan, "Two Efficient
 * Algorithms for Linear Time Suffix Array Construction", 2011): linear time, about 4 bytes of
 * memory per input byte besides the input and the output, which is what makes bsdiff-style
 * matching affordable on files of tens of megabytes in a Node process.
 */

/**
 * The suffix array of `text`: the start offsets of its suffixes in lexicographic order, the
 * empty suffix (offset text.length) first, as bsdiff's search expects. Length text.length + 1.
 */
export function suffixArray(text: Uint8Array): Int32Array {
  const n = text.length;
  const sa = new Int32Array(n + 1);
  sa[0] = n;
  if (n === 0) return sa;
  const s = new Int32Array(n);
  for (let i = 0; i < n; i++) s[i] = text[i]!;
  const inner = new Int32Array(n);
  sais(s, inner, n, 256);
  sa.set(inner, 1);
  return sa;
}

/** Fills sa[0..n) with the suffix array of s[0..n), whose symbols are in [0, k). */
function sais(s: Int32Array, sa: Int32Array, n: number, k: number): void {
  if (n === 1) {
    sa[0] = 0;
    return;
  }
  // Type of each suffix: S (smaller than the next) or L; the suffix past the end counts as S.
  const isS = new Uint8Array(n + 1);
  isS[n] = 1;
  isS[n - 1] = 0;
  for (let i = n - 2; i >= 0; i--) isS[i] = s[i]! < s[i + 1]! || (s[i] === s[i + 1] && isS[i + 1] === 1) ? 1 : 0;
  const isLms = (i: number) => i > 0 && isS[i] === 1 && isS[i - 1] === 0;

  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) counts[s[i]!]!++;
  const bucketEnds = (ends: Int32Array) => {
    let sum = 0;
    for (let c = 0; c < k; c++) ends[c] = sum += counts[c]!;
  };
  const bucketStarts = (starts: Int32Array) => {
    let sum = 0;
    for (let c = 0; c < k; c++) {
      starts[c] = sum;
      sum += counts[c]!;
    }
  };
  const bkt = new Int32Array(k);

  const induce = () => {
    // L-type suffixes from the left (the virtual sentinel suffix n first), then S-type from the right.
    bucketStarts(bkt);
    if (isS[n - 1] === 0) sa[bkt[s[n - 1]!]!++] = n - 1;
    for (let i = 0; i < n; i++) {
      const j = sa[i]! - 1;
      if (j >= 0 && isS[j] === 0) sa[bkt[s[j]!]!++] = j;
    }
    bucketEnds(bkt);
    for (let i = n - 1; i >= 0; i--) {
      const j = sa[i]! - 1;
      if (j >= 0 && isS[j] === 1) sa[--bkt[s[j]!]!] = j;
    }
  };

  // Step 1: sort the LMS substrings by placing LMS suffixes at their buckets' ends and inducing.
  sa.fill(-1);
  bucketEnds(bkt);
  for (let i = n - 1; i >= 1; i--) if (isLms(i)) sa[--bkt[s[i]!]!] = i;
  induce();

  // Step 2: name the sorted LMS substrings; equal substrings get equal names.
  let m = 0;
  for (let i = 0; i < n; i++) if (isLms(sa[i]!)) sa[m++] = sa[i]!;
  sa.fill(-1, m);
  let name = 0;
  let prev = -1;
  for (let i = 0; i < m; i++) {
    const pos = sa[i]!;
    let differ = prev < 0;
    if (!differ) {
      for (let d = 0; ; d++) {
        const a = pos + d;
        const b = prev + d;
        if (a === n || b === n || s[a] !== s[b] || isS[a] !== isS[b]) {
          differ = true;
          break;
        }
        if (d > 0 && (isLms(a) || isLms(b))) {
          differ = !(isLms(a) && isLms(b));
          break;
        }
      }
    }
    if (differ) {
      name++;
      prev = pos;
    }
    sa[m + (pos >> 1)] = name - 1;
  }
  // The names in text order, packed at the end of sa.
  let j = n - 1;
  for (let i = n - 1; i >= m; i--) if (sa[i]! >= 0) sa[j--] = sa[i]!;

  // Step 3: the LMS suffixes in order: directly when every name is unique, else recursively.
  const reduced = sa.subarray(n - m, n);
  const order = new Int32Array(m);
  if (name < m) {
    sais(Int32Array.from(reduced), order, m, name);
  } else {
    for (let i = 0; i < m; i++) order[reduced[i]!] = i;
  }
  // Map back to text offsets.
  const lms = new Int32Array(m);
  for (let i = 1, t = 0; i < n; i++) if (isLms(i)) lms[t++] = i;
  for (let i = 0; i < m; i++) order[i] = lms[order[i]!]!;

  // Step 4: place the sorted LMS suffixes at their buckets' ends, in order, and induce the rest.
  sa.fill(-1);
  bucketEnds(bkt);
  for (let i = m - 1; i >= 0; i--) {
    const p = order[i]!;
    sa[--bkt[s[p]!]!] = p;
  }
  induce();
}
