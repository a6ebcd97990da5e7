-- A shopping cart: items added and removed until checkout, prices in minor units. It shows
-- nested state (items by SKU), a list in an event (array() keeps it a JSON array even when
-- empty) and totals checked for overflow.
local MAX_QUANTITY = 1000

local function open_cart(state)
    if state ~= nil and state.checked_out then reject("cart checked out") end
    return state or { items = {}, checked_out = false }
end

local function total(items)
    local sum = 0
    for _, item in pairs(items) do
        local line = item.quantity * item.price
        if line // item.quantity ~= item.price or sum > math.maxinteger - line then reject("total would overflow") end
        sum = sum + line
    end
    return sum
end

return {
    name = "cart",
    state_version = 1,
    commands = {
        {
            type = "add_item",
            fields = { sku = "string", quantity = "integer", price = "integer" },
            summary = "Adds units of an item at a unit price; a second add of the same SKU must keep its price.",
        },
        { type = "remove_item", fields = { sku = "string" }, summary = "Removes every unit of an item." },
        { type = "checkout", summary = "Closes the cart with its lines and total; rejected when empty." },
    },

    decide = function(state, command)
        local kind = command.type
        if kind == "add_item" then
            local cart = open_cart(state)
            if command.sku == "" then reject("sku must not be empty") end
            if command.quantity <= 0 then reject("quantity must be positive") end
            if command.price < 0 then reject("price must not be negative") end
            local held = cart.items[command.sku]
            if held ~= nil and held.price ~= command.price then
                reject(string.format("price of %s is %d in the cart, not %d", command.sku, held.price, command.price))
            end
            local quantity = (held and held.quantity or 0) + command.quantity
            if quantity > MAX_QUANTITY then
                reject(string.format("at most %d units of one item", MAX_QUANTITY))
            end
            return { { type = "item_added", sku = command.sku, quantity = quantity, price = command.price } }
        elseif kind == "remove_item" then
            local cart = open_cart(state)
            if cart.items[command.sku] == nil then reject("no " .. command.sku .. " in the cart") end
            return { { type = "item_removed", sku = command.sku } }
        elseif kind == "checkout" then
            local cart = open_cart(state)
            local lines = array()
            for sku, item in pairs(cart.items) do
                lines[#lines + 1] = { sku = sku, quantity = item.quantity, price = item.price }
            end
            if #lines == 0 then reject("cart is empty") end
            table.sort(lines, function(a, b) return a.sku < b.sku end)
            return { { type = "checked_out", lines = lines, total = total(cart.items) } }
        end
    end,

    evolve = function(state, event)
        local cart = state or { items = {}, checked_out = false }
        if event.type == "item_added" then
            cart.items[event.sku] = { quantity = event.quantity, price = event.price }
        elseif event.type == "item_removed" then
            cart.items[event.sku] = nil
        elseif event.type == "checked_out" then
            cart.checked_out = true
        end
        return cart
    end,
}
