/**
 * What a backend can do, declared by its driver. The conformance suite and the portable layer read
 * these flags; nothing silently does nothing.
 */
export interface Capabilities {
  /** Messages with the same key are delivered in publish order within a group. */
  orderingKeys: boolean;
  /** Subscribers sharing a group compete for messages; different groups each get every message. */
  consumerGroups: boolean;
  /** `fromBeginning` replays messages published before the group existed. */
  replayFromStart: boolean;
  /** A group's unacknowledged and unread messages survive closing every subscriber (and a process restart). */
  persistent: boolean;
  /** createTopic / deleteTopic / listTopics work against this broker. */
  topicAdmin: boolean;
  /** The broker can dead-letter on its own (e.g. Pub/Sub dead-letter policy). */
  nativeDeadLetter: boolean;
  /** `attempt` on a received message is the broker's delivery count, not a process-local guess. */
  deliveryCount: boolean;
  /** `subscribe({ ephemeral: true })` leaves nothing of its group on the broker once closed. */
  ephemeralGroups: boolean;
  /** Largest encoded body the broker accepts, in bytes. */
  maxPayloadBytes: number;
}
