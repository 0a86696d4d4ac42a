export async function mount({ root }) { root.querySelector('[aria-busy]')?.setAttribute('aria-busy', 'false'); }
