import { useSyncExternalStore } from 'react';
import type { ChatClient } from './connection';
import type { ChatState } from './state';

/** The client's state, re-rendering on every change. */
export function useChatState(client: ChatClient): ChatState {
  return useSyncExternalStore(client.subscribe, client.getState, client.getState);
}
