/** Frappe's desk routes: `/app/<doctype-slug>` lists, `/app/<slug>/<name>` forms, `/app/<slug>/new`. */
import { createRouter, createWebHistory } from 'vue-router';
import ActivityLog from './pages/ActivityLog.vue';
import ApiKeyList from './pages/ApiKeyList.vue';
import AuthorizedApps from './pages/AuthorizedApps.vue';
import GenericForm from './pages/GenericForm.vue';
import GenericList from './pages/GenericList.vue';
import HomePage from './pages/HomePage.vue';
import NotFound from './pages/NotFound.vue';
import OAuthClientForm from './pages/OAuthClientForm.vue';
import OAuthClientList from './pages/OAuthClientList.vue';
import SessionsPage from './pages/SessionsPage.vue';
import SettingsPage from './pages/SettingsPage.vue';
import UserForm from './pages/UserForm.vue';
import UserList from './pages/UserList.vue';

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/app', component: HomePage },
    { path: '/app/user', component: UserList },
    { path: '/app/user/new', component: UserForm, props: { name: null } },
    { path: '/app/user/:name(.*)', component: UserForm, props: true },
    { path: '/app/api-key', component: ApiKeyList },
    // Keys are made with their secret through the list's dialog, never as a bare document.
    { path: '/app/api-key/new', redirect: '/app/api-key' },
    { path: '/app/sessions', component: SessionsPage },
    { path: '/app/oauth-client', component: OAuthClientList },
    { path: '/app/oauth-client/new', component: OAuthClientForm, props: { name: null } },
    { path: '/app/oauth-client/:name(.*)', component: OAuthClientForm, props: true },
    { path: '/app/authorized-applications', component: AuthorizedApps },
    { path: '/app/activity-log', component: ActivityLog },
    // frappe-charts is loaded with the one page that draws a chart.
    { path: '/app/api-request-log', component: () => import('./pages/ApiRequestLog.vue') },
    { path: '/app/system-settings', component: SettingsPage, props: { doctype: 'System Settings' } },
    { path: '/app/oauth-settings', component: SettingsPage, props: { doctype: 'OAuth Settings' } },
    { path: '/app/:slug', component: GenericList, props: true },
    { path: '/app/:slug/new', component: GenericForm, props: (route) => ({ slug: route.params.slug, name: null }) },
    { path: '/app/:slug/:name(.*)', component: GenericForm, props: true },
    { path: '/:rest(.*)*', component: NotFound },
  ],
});

// A new page moves focus to it, so keyboard and screen-reader users start there.
router.afterEach((to, from) => {
  if (from.matched.length > 0 && to.path !== from.path) document.getElementById('main')?.focus({ preventScroll: true });
});
