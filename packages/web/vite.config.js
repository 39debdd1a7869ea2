// Vite builds the app into dist/app (served by the server at /); dist/test holds the
// compiled browser tests, which are not served.
import { defineConfig } from 'vite';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    rollupOptions: {
      // The protocol package's zod schemas are module-level calls Rollup cannot prove pure;
      // the app uses only its constants and helpers, so unused modules of our own packages go.
      treeshake: { moduleSideEffects: (id) => !/\/packages\/(protocol|client)\/dist\//.test(id) && !id.includes('/node_modules/zod/') },
      onwarn(warning, warn) {
        // zod's comments that Rollup cannot place; harmless, and not ours.
        if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('/zod/')) return;
        warn(warning);
      },
    },
  },
});
