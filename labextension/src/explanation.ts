// The predict form's Explain answer, drawn without a chart library: for
// each instance (the first few), its prediction and the features that moved
// its score most, each a bar as long as its share (green up, red down).
import { IExplainAnswer } from './api';
import { element } from './dom';

const SHOWN_INSTANCES = 5;
const SHOWN_FEATURES = 8;

function number(value: number | undefined): string {
  return value === undefined ? '-' : Number(value.toPrecision(4)).toString();
}

export function renderExplanation(answer: IExplainAnswer): HTMLElement {
  const box = element('div', 'mlnb-explanation');
  answer.explanations.slice(0, SHOWN_INSTANCES).forEach((explanation, index) => {
    const label = explanation.attributions_by_label[0];
    const instance = element('div', 'mlnb-explanation-instance');
    let head = `prediction ${JSON.stringify(answer.predictions[index])}`;
    if (label.example_score !== undefined) {
      head += `: score ${number(label.example_score)}, ${number(label.baseline_score)} at the baseline`;
    }
    instance.append(element('div', 'mlnb-explanation-head', head));
    const numbers = Object.entries(label.attributions).filter(
      (entry): entry is [string, number] => typeof entry[1] === 'number'
    );
    if (numbers.length === 0) {
      const text = 'An image attribution map: %ml explain draws it.';
      instance.append(element('div', 'mlnb-explanation-note', text));
    }
    const ranked = numbers.sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, SHOWN_FEATURES);
    const largest = Math.max(1e-12, ...ranked.map(([, value]) => Math.abs(value)));
    for (const [name, value] of ranked) {
      const row = element('div', 'mlnb-attribution');
      row.dataset.feature = name;
      const track = element('span', 'mlnb-attribution-track');
      const bar = element('span', `mlnb-attribution-bar ${value < 0 ? 'mlnb-down' : 'mlnb-up'}`);
      bar.style.width = `${(100 * Math.abs(value)) / largest}%`;
      track.append(bar);
      row.append(
        element('span', 'mlnb-attribution-name', name),
        track,
        element('span', 'mlnb-attribution-value', `${value >= 0 ? '+' : ''}${number(value)}`)
      );
      instance.append(row);
    }
    box.append(instance);
  });
  const more = answer.explanations.length - SHOWN_INSTANCES;
  const method = answer.method.replace(/Attribution$/, '');
  const note =
    `${method} of ${answer.version}` + (more > 0 ? `; ${more} more instances not shown` : '');
  box.append(element('div', 'mlnb-explanation-note', note));
  return box;
}
