/** The metadata a page needs, reloaded when its route names another DocType. */
import { ref, watch, type Ref } from 'vue';
import { metaFor, metaForSlug, type DeskMeta } from './meta.ts';

export function useMeta(source: () => { slug: string } | { doctype: string }): { meta: Ref<DeskMeta | undefined>; error: Ref<string | undefined> } {
  const meta = ref<DeskMeta>();
  const error = ref<string>();
  watch(
    source,
    async (wanted) => {
      error.value = undefined;
      try {
        const loaded = await ('slug' in wanted ? metaForSlug(wanted.slug) : metaFor(wanted.doctype));
        meta.value = loaded;
      } catch (e) {
        meta.value = undefined;
        error.value = e instanceof Error ? e.message : String(e);
      }
    },
    { immediate: true, deep: true },
  );
  return { meta, error };
}
