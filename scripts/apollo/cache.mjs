// The Apollo Client cache configuration for partnergraph (the README's "Apollo Client" section shows
// this file; check.mjs uses it and fails when a connection of the served schema has no policy here).
import { InMemoryCache } from "@apollo/client";
import { relayStylePagination } from "@apollo/client/utilities";

// Every Relay connection, with the arguments that pick a different list (`first` and `after` only
// page through one list, so they are never key arguments).
export const connections = {
  QueryRoot: {
    subscribers: ["kind", "search", "updatedSince"],
    invitations: ["subscriberId", "status"],
    notActivatedInvitations: [],
    unboundClients: [],
    supportedClients: [],
    apiKeys: [],
    auditLog: [],
    payments: ["subscriberId", "externalId"],
    invoices: ["clientId"],
    commissions: ["partnerId", "status", "from", "to"],
    stopList: ["inn", "status"],
    promoCodes: [],
    tasks: ["status", "clientId"],
    notifications: [],
    contacts: ["bookId", "search", "companyId", "externalId", "updatedSince"],
    companies: ["bookId", "search", "externalId", "updatedSince"],
    deals: ["bookId", "stage", "companyId", "contactId", "externalId", "updatedSince"],
    webhookEndpoints: [],
    webhookDeliveries: ["endpointId", "status"],
  },
  Subscriber: {
    members: [],
  },
};

const paged = (fields) =>
  Object.fromEntries(
    Object.entries(fields).map(([name, keyArgs]) => [name, relayStylePagination(keyArgs.length ? keyArgs : false)]),
  );

export function createCache() {
  return new InMemoryCache({
    typePolicies: {
      // The root types are not called Query/Mutation/Subscription here (the domain has a type named
      // Subscription), so tell the cache which ones they are.
      QueryRoot: { queryType: true, fields: paged(connections.QueryRoot) },
      MutationRoot: { mutationType: true },
      SubscriptionRoot: { subscriptionType: true },
      Subscriber: { fields: paged(connections.Subscriber) },
      // Every object type with an `id` (Viewer and PartnerProfile included) is normalised by
      // `__typename:id`, Apollo's default. A client's needs assessment has no id of its own: it is
      // one per client, so answers fetched by different queries are merged, not replaced.
      NeedsAssessment: { merge: true },
    },
  });
}
