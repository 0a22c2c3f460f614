/** `1 migration`, `3 migrations`: counts in messages (regular plurals only). */
export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
