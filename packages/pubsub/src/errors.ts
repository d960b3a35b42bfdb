import type { ErrorCode } from '@eventport/core';

/** gRPC status codes (google-gax / @grpc/grpc-js `status`), the `code` on every Pub/Sub client error. */
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** Portable code and retryability per gRPC status; retryable ones follow Pub/Sub's own publish retry codes. */
const BY_STATUS: Record<number, { code: ErrorCode; retryable: boolean }> = {
  [GrpcStatus.CANCELLED]: { code: 'CONNECTION', retryable: true },
  [GrpcStatus.UNKNOWN]: { code: 'INTERNAL', retryable: true },
  [GrpcStatus.INVALID_ARGUMENT]: { code: 'INVALID_ARGUMENT', retryable: false },
  [GrpcStatus.DEADLINE_EXCEEDED]: { code: 'TIMEOUT', retryable: true },
  [GrpcStatus.NOT_FOUND]: { code: 'NOT_FOUND', retryable: false },
  [GrpcStatus.ALREADY_EXISTS]: { code: 'ALREADY_EXISTS', retryable: false },
  [GrpcStatus.PERMISSION_DENIED]: { code: 'PERMISSION_DENIED', retryable: false },
  [GrpcStatus.RESOURCE_EXHAUSTED]: { code: 'RESOURCE_EXHAUSTED', retryable: true },
  [GrpcStatus.FAILED_PRECONDITION]: { code: 'INTERNAL', retryable: false },
  [GrpcStatus.ABORTED]: { code: 'CONNECTION', retryable: true },
  [GrpcStatus.OUT_OF_RANGE]: { code: 'INVALID_ARGUMENT', retryable: false },
  [GrpcStatus.UNIMPLEMENTED]: { code: 'UNSUPPORTED', retryable: false },
  [GrpcStatus.INTERNAL]: { code: 'INTERNAL', retryable: true },
  [GrpcStatus.UNAVAILABLE]: { code: 'CONNECTION', retryable: true },
  [GrpcStatus.DATA_LOSS]: { code: 'INTERNAL', retryable: false },
  [GrpcStatus.UNAUTHENTICATED]: { code: 'PERMISSION_DENIED', retryable: false },
};

export function grpcStatusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function classifyPubSubError(error: unknown): { code: ErrorCode; retryable: boolean } | undefined {
  const status = grpcStatusOf(error);
  if (status !== undefined) return BY_STATUS[status];
  // The client validates attributes and data synchronously and throws TypeError/RangeError.
  if (error instanceof TypeError || error instanceof RangeError) return { code: 'INVALID_ARGUMENT', retryable: false };
  return undefined;
}
