import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.minio.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'minio',
          include: ['test/**/*.minio.test.ts'],
          globalSetup: ['test/support/global-minio.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
