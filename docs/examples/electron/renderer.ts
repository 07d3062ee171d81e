// The page's script (DOM only: compiled with lib ["DOM", "ES2022"] and types [] by test/electron/examples.test.ts).
import { connectLeasehold, LeaseholdRendererError } from 'leasehold/electron/renderer';

interface NotesState {
  notes?: string[];
}

const leasehold = connectLeasehold<NotesState>();
const list = document.querySelector('ul')!;
const input = document.querySelector('input')!;

// The notes only: this window is sent nothing else of the state.
leasehold.watch('notes', (notes) => {
  list.replaceChildren(...(notes ?? []).map((text) => Object.assign(document.createElement('li'), { textContent: text })));
});

document.querySelector('form')!.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    await leasehold.dispatch({ type: 'note/add', payload: input.value });
    input.value = '';
  } catch (err) {
    // e.g. EFULL while no owner is reachable, EREDUCER when the reducer refused
    if (err instanceof LeaseholdRendererError) document.title = `${err.code}: ${err.message}`;
  }
});
