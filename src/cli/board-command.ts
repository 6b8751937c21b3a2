import { App } from '../app';
import { boardOptionsFrom, startBoard } from '../board/server';
import { untilStopSignal } from './signals';

/** `board`: Bull Board, /healthz and /metrics without workers, until SIGTERM/SIGINT. */
export async function runBoard(app: App): Promise<void> {
  const board = await startBoard(boardOptionsFrom(app.config, app.knex, app.logger));
  try {
    await untilStopSignal(app.logger);
  } finally {
    await board.close();
    await app.close();
  }
}

/** `start` serves the board beside the workers: started once they are ready, closed before they drain. */
export function boardAlongsideWorkers(app: App): () => Promise<() => Promise<void>> {
  return async () => {
    const board = await startBoard(boardOptionsFrom(app.config, app.knex, app.logger));
    return () => board.close();
  };
}
