import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.minio.test.ts', '**/node_modules/**'],
          // The DEFLATE implementation production runtimes install (test/segment/deflate.test.ts covers fflate).
          setupFiles: ['src/runtime/native-deflate.ts'],
        },
      },
      {
        test: {
          name: 'minio',
          include: ['test/**/*.minio.test.ts'],
          globalSetup: ['test/support/global-minio.ts'],
          setupFiles: ['src/runtime/native-deflate.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
