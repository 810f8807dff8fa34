/**
 * Classification metrics and lead time, computed on scores and ground truth only.
 */

/** ROC-AUC by the rank statistic (ties count one half); null without both classes. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let neg = 0;
  let rankSum = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[idx[k]!]) rankSum += avgRank;
    i = j + 1;
  }
  for (let i = 0; i < labels.length; i++) labels[i] ? pos++ : neg++;
  if (pos === 0 || neg === 0) return null;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** ROC curve as (false-positive rate, true-positive rate) points, at most ~`maxPoints`. */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>, maxPoints = 200): Array<[number, number]> {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let P = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) P++;
  const N = labels.length - P;
  const points: Array<[number, number]> = [[0, 0]];
  let tp = 0;
  let fp = 0;
  const every = Math.max(1, Math.floor(idx.length / maxPoints));
  for (let i = 0; i < idx.length; i++) {
    if (labels[idx[i]!]) tp++;
    else fp++;
    const lastOfTie = i + 1 === idx.length || scores[idx[i + 1]!] !== scores[idx[i]!];
    if (lastOfTie && (i % every === 0 || i + 1 === idx.length)) points.push([N ? fp / N : 0, P ? tp / P : 0]);
  }
  return points;
}

export interface Confusion {
  precision: number;
  recall: number;
  f1: number;
  windows: number;
  positives: number;
}

export function confusionAt(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): Confusion {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let positives = 0;
  for (let i = 0; i < scores.length; i++) {
    const flagged = scores[i]! >= threshold;
    if (labels[i]) {
      positives++;
      if (flagged) tp++;
      else fn++;
    } else if (flagged) fp++;
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  return { precision, recall, f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0, windows: scores.length, positives };
}

/** The threshold with the best F1 (ties: the higher threshold, fewer alarms). */
export function bestF1Threshold(scores: ArrayLike<number>, labels: ArrayLike<number>): { threshold: number; f1: number } {
  let best = { threshold: 0.5, f1: -1 };
  for (let k = 1; k < 100; k++) {
    const threshold = k / 100;
    const { f1 } = confusionAt(scores, labels, threshold);
    if (f1 >= best.f1) best = { threshold, f1 };
  }
  return best;
}

/**
 * Alert hysteresis as ingest applies it: an alert is raised after `raiseAfter` consecutive windows
 * with score ≥ threshold. Returns the event time of each raise (the window start of the last of
 * the consecutive windows); an alert clears after `raiseAfter` consecutive normal windows.
 */
export function alertRaises(times: ArrayLike<number>, scores: ArrayLike<number>, threshold: number, raiseAfter: number): number[] {
  const raises: number[] = [];
  let run = 0;
  let normalRun = 0;
  let raised = false;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i]! >= threshold) {
      run++;
      normalRun = 0;
      if (!raised && run >= raiseAfter) {
        raised = true;
        raises.push(times[i]!);
      }
    } else {
      run = 0;
      normalRun++;
      if (raised && normalRun >= raiseAfter) raised = false;
    }
  }
  return raises;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
